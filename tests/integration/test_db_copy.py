"""kw-admin db copy: a SQLite installation moved into a new PostgreSQL database.

The source is made the way production makes it: the real kw-fetch fetches two runs from a fake
Kalshi and detection raises its alerts (apiseed.detect), kw-admin creates an API key and
revokes a token, and a real stack serves requests (good keys, a bad one) so that the metrics,
the limiter's write-behind state and the security log hold rows. A throwaway PostgreSQL
cluster (initdb in a temporary directory, a free port on 127.0.0.1) gets a database owned by a
role that is no superuser. After the copy every table must hold the same rows on both sides,
the copied key and the copied revocation must act on a kw-api serving the copy, and its
answers must equal the SQLite stack's.
"""
import glob
import json
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time

import psycopg2
import pytest
import requests

import apiseed
from kwstack import BUILD, Stack, pg_mode, run_admin

# Its source is a SQLite installation by definition, and it brings its own PostgreSQL target:
# it belongs to the default (SQLite) pass; the PostgreSQL pass would only run it again.
pytestmark = pytest.mark.skipif(pg_mode(), reason="db copy moves a SQLite installation: its"
                                " source stack is SQLite, and it runs in the SQLite pass")

OWNER = "kwcopy"  # owns the target database; LOGIN only: no superuser, no CREATEDB
PASSWORD = "pw-Never-Printed-7f3a"  # trust authentication ignores it; it must never show


class Cluster:
    """A throwaway PostgreSQL server: initdb into a temporary directory, a free port on
    127.0.0.1 with its socket in that directory; run as `postgres` under root (initdb
    refuses root). Stopped with pg_ctl -m immediate and removed."""

    def __init__(self):
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        self.bindir = os.path.dirname(found[-1]) if found else os.path.dirname(
            shutil.which("initdb"))
        self.dir = tempfile.mkdtemp(prefix="kw-pgcopy-", dir="/tmp")
        self.data = os.path.join(self.dir, "data")
        self.port = None

    def _run(self, *argv):
        cmd = [os.path.join(self.bindir, argv[0])] + list(argv[1:])
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        return r

    def start(self):
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._run("pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"), "-w", "-o",
                  "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off" % (self.port,
                                                                           self.dir), "start")
        with self.superuser() as c:
            c.cursor().execute("CREATE ROLE %s LOGIN" % OWNER)
        return self

    def superuser(self):
        c = psycopg2.connect(host=self.dir, port=self.port, user="postgres", dbname="postgres")
        c.autocommit = True
        return _Closing(c)

    def new_database(self, name):
        with self.superuser() as c:
            c.cursor().execute("CREATE DATABASE %s OWNER %s" % (name, OWNER))
        return "postgresql://%s:%s@127.0.0.1:%d/%s" % (OWNER, PASSWORD, self.port, name)

    def stop(self):
        if self.port:
            subprocess.run((["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else [])
                           + [os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m",
                              "immediate", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


class _Closing:
    def __init__(self, conn):
        self.conn = conn

    def cursor(self):
        return self.conn.cursor()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.conn.close()


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    try:
        yield c.start()
    finally:
        c.stop()


def tables(db_path):
    with sqlite3.connect(db_path) as db:
        return [r[0] for r in db.execute("SELECT name FROM sqlite_schema WHERE type = 'table'"
                                         " AND name NOT LIKE 'sqlite%' ORDER BY name")]


def sorted_rows(rows):
    return sorted(rows, key=lambda r: [(v is None, "" if v is None else str(v)) for v in r])


def lite_rows(db_path, table):
    """Every row of table in the SQLite file, columns by name, in a stable order."""
    with sqlite3.connect(db_path) as db:
        cols = [r[1] for r in db.execute("SELECT * FROM pragma_table_info(?)", (table,))]
        rows = db.execute("SELECT %s FROM \"%s\"" % (", ".join('"%s"' % c for c in cols),
                                                     table)).fetchall()
    return cols, sorted_rows([tuple(r) for r in rows])


def pg_rows(url, table, cols):
    with _Closing(psycopg2.connect(url)) as c:
        cur = c.cursor()
        cur.execute("SELECT %s FROM \"%s\"" % (", ".join('"%s"' % c for c in cols), table))
        return sorted_rows([tuple(r) for r in cur.fetchall()])


def pg_count(url, table):
    with _Closing(psycopg2.connect(url)) as c:
        cur = c.cursor()
        cur.execute("SELECT count(*) FROM \"%s\"" % table)
        return cur.fetchone()[0]


def copy_to(stack_or_settings, url, env_extra=None):
    return run_admin(stack_or_settings, "db", "copy", "--to", url, env_extra=env_extra)


SETTINGS = dict(apiseed.SETTINGS, JWT_SECRET="copy-test-jwt-secret-" + "9" * 32)


def sqlite_stack(directory):
    """A stack on its SQLite file, whichever database the rest of the suite runs on: db
    copy's source is SQLite by definition."""
    s = Stack(directory, settings=SETTINGS, workers=1)
    s.settings.pop("DATABASE_URL", None)
    s.settings["DATABASE_PATH"] = s.db
    return s


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A stopped stack whose SQLite file holds a working installation's data."""
    s = sqlite_stack(tmp_path_factory.mktemp("dbcopy"))
    s.start()
    try:
        apiseed.detect(s)
        made = run_admin(s, "key", "create", "--name", "moved \\ key", "--scope", "read")
        assert made.returncode == 0, made.stderr
        s.copied_key = made.stdout.strip()
        tok = run_admin(s, "token", "create", "--scope", "read")
        assert tok.returncode == 0, tok.stderr
        s.revoked_token = tok.stdout.strip()
        jti = tok.stderr.split("jti=")[1].split()[0]
        assert run_admin(s, "token", "revoke", jti).returncode == 0
        for path in ("/api/v1/whales?limit=100", "/api/v1/alerts?limit=50", "/api/status"):
            assert s.get(path, headers={"X-API-Key": s.copied_key}).status_code == 200
        assert s.get("/api/v1/whales", headers={"X-API-Key": "kw_wrong_key_" + "0" * 30},
                     ).status_code == 401
    finally:
        s.stop()  # the workers write their metrics and limiter state behind as they stop
    return s


def test_copy_moves_every_table_and_verifies_it(source, cluster):
    names = tables(source.db)
    with sqlite3.connect(source.db) as db:
        counts = {t: db.execute('SELECT count(*) FROM "%s"' % t).fetchone()[0] for t in names}
    # The data set is what a working installation holds, not a few tables of it.
    for t in ("alerts", "trades", "markets", "fetch_runs", "api_keys", "revoked_tokens",
              "security_events", "metrics_requests", "rate_limit_state", "fetch_state"):
        assert counts[t] > 0, t

    url = cluster.new_database("moved")
    r = copy_to(source, url)
    assert r.returncode == 0, r.stderr
    assert PASSWORD not in r.stdout + r.stderr
    assert "every count matches" in r.stdout
    printed = {line.split()[0]: (int(line.split()[1]), int(line.split()[2]))
               for line in r.stdout.splitlines()[1:] if line.split()[0] in counts}
    assert printed == {t: (n, n) for t, n in counts.items()}

    # Row for row, column by column, read back by a client of each database.
    for t in names:
        cols, want = lite_rows(source.db, t)
        assert pg_rows(url, t, cols) == want, t
    # The market-data generation came along (kw-api's caches and ETags are keyed on it).
    gen = [r for r in lite_rows(source.db, "fetch_state")[1] if r[0] == "data_generation"]
    assert gen and gen[0][1] > 0

    # New rows get fresh ids: the identity sequences were moved past the copied ones.
    with sqlite3.connect(source.db) as db:
        top = db.execute("SELECT max(id) FROM api_keys").fetchone()[0]
    env = {"DATABASE_URL": url}
    made = run_admin(source, "key", "create", "--name", "after the move", env_extra=env)
    assert made.returncode == 0, made.stderr
    assert "id=%d " % (top + 1) in made.stderr
    assert PASSWORD not in made.stderr

    # A second copy into the database, now in use, is refused and changes nothing.
    again = copy_to(source, url)
    assert again.returncode == 1
    assert "in use" in again.stderr and PASSWORD not in again.stdout + again.stderr
    assert pg_count(url, "trades") == counts["trades"]
    assert pg_count(url, "api_keys") == counts["api_keys"] + 1


def test_the_copy_serves_what_the_file_served(source, cluster, tmp_path_factory):
    url = cluster.new_database("served")
    r = copy_to(source, url)
    assert r.returncode == 0, r.stderr
    lite = sqlite_stack(source._pytest_dir)
    pg = Stack(tmp_path_factory.mktemp("dbcopy-pg"), settings=dict(SETTINGS, DATABASE_URL=url),
               workers=1)
    lite.start()
    try:
        pg.start()
        try:
            key = {"X-API-Key": source.copied_key}
            for path in ("/api/v1/whales?limit=100", "/api/v1/alerts?limit=200",
                         "/api/v1/alerts?type=whale_trade&limit=20"):
                a, b = lite.get(path, headers=key), pg.get(path, headers=key)
                assert a.status_code == b.status_code == 200, (path, b.text)
                assert a.json()["data"], path
                assert b.json() == a.json(), path
            # The copied revocation still holds; a key that never existed still fails.
            bearer = {"Authorization": "Bearer " + source.revoked_token}
            assert pg.get("/api/v1/whales", headers=bearer).status_code == 401
            wrong = {"X-API-Key": "kw_wrong_key_" + "1" * 30}
            assert pg.get("/api/v1/whales", headers=wrong).status_code == 401
        finally:
            pg.stop()
    finally:
        lite.stop()


def test_the_source_is_one_snapshot_while_a_writer_runs(cluster, tmp_path):
    db = tmp_path / "busy.db"
    settings = {"DATABASE_PATH": str(db)}
    assert run_admin(settings, "db", "migrate", env_extra=settings).returncode == 0
    with sqlite3.connect(db) as c:  # enough rows that the copy takes a while
        c.executemany("INSERT INTO fetch_runs (started_at, outcome, error) VALUES (?, 'ok', ?)",
                      [(i, "tab\there\nnewline \\ backslash") for i in range(50000)])
    stop = threading.Event()
    written = [50000]

    def writer():
        c = sqlite3.connect(db, timeout=10)
        i = written[0]
        while not stop.is_set():
            with c:
                c.execute("INSERT INTO fetch_runs (started_at, outcome) VALUES (?, 'ok')", (i,))
            i += 1
            written[0] = i
        c.close()

    url = cluster.new_database("busy")
    t = threading.Thread(target=writer)
    t.start()
    try:
        time.sleep(0.2)
        r = copy_to(settings, url, env_extra=settings)
    finally:
        stop.set()
        t.join()
    assert r.returncode == 0, r.stderr
    with _Closing(psycopg2.connect(url)) as c:
        cur = c.cursor()
        cur.execute("SELECT started_at FROM fetch_runs ORDER BY id")
        got = [row[0] for row in cur.fetchall()]
        cur.execute("SELECT error FROM fetch_runs WHERE started_at = 0")
        assert cur.fetchone()[0] == "tab\there\nnewline \\ backslash"
    assert 50000 <= len(got) < written[0]  # rows written after the snapshot stayed behind
    assert got == list(range(len(got)))  # a prefix of what was written: one snapshot


@pytest.mark.parametrize("to", [
    "mysql://root:%s@127.0.0.1/kw" % PASSWORD,
    "sqlite:///tmp/other.db",
    "/tmp/other.db",
])
def test_a_target_that_is_not_postgresql_is_refused(tmp_path, to):
    settings = {"DATABASE_PATH": str(tmp_path / "kw.db")}
    r = copy_to(settings, to, env_extra=settings)
    assert r.returncode == 64
    assert "PostgreSQL URL" in r.stderr
    assert PASSWORD not in r.stdout + r.stderr
    assert not (tmp_path / "kw.db").exists()  # refused before anything was opened


def test_a_postgresql_source_is_refused(tmp_path):
    settings = {"DATABASE_URL": "postgresql://kw:%s@127.0.0.1:1/kw" % PASSWORD,
                "DATABASE_PATH": str(tmp_path / "kw.db")}
    r = copy_to(settings, "postgresql://kw:%s@127.0.0.1:1/other" % PASSWORD,
                env_extra=settings)
    assert r.returncode == 64
    assert "reads a SQLite database" in r.stderr
    assert PASSWORD not in r.stdout + r.stderr


def test_an_unreachable_target_fails_without_showing_its_password(tmp_path):
    settings = {"DATABASE_PATH": str(tmp_path / "kw.db")}
    assert run_admin(settings, "db", "migrate", env_extra=settings).returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here
    r = copy_to(settings, "postgresql://kw:%s@127.0.0.1:%d/kw" % (PASSWORD, port),
                env_extra=settings)
    assert r.returncode == 1
    assert "cannot connect" in r.stderr and "kw:***@127.0.0.1" in r.stderr
    assert PASSWORD not in r.stdout + r.stderr


def test_usage(tmp_path):
    settings = {"DATABASE_PATH": str(tmp_path / "kw.db")}
    for args in (["db", "copy"], ["db", "copy", "--to"], ["db", "copy", "postgresql://x/y"]):
        r = run_admin(settings, *args, env_extra=settings)
        assert r.returncode == 2 and "copy --to URL" in r.stderr
    help_text = run_admin(settings, "--help", env_extra=settings).stdout
    assert "db copy --to URL" in help_text
