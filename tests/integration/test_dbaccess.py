"""The suite's own database plumbing, on both backends whatever KW_TEST_DB says: the throwaway
PostgreSQL cluster (pgcluster.py) starts, serves a role without privileges over TCP, and stops
leaving nothing behind; kwstack.dbconnect() gives the same answers through SQLite and through
psycopg2 (placeholders, rows by name, transactions), which every direct read and write of the
other tests relies on."""
import os
import socket
import time

import pytest

import pgcluster
from kwstack import Row, dbconnect


@pytest.fixture(scope="module")
def cluster():
    c = pgcluster.Cluster().start()
    yield c
    c.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def where(request, cluster, tmp_path):
    """Where a fresh database is: a SQLite path, or a postgresql:// URL."""
    if request.param == "sqlite":
        return str(tmp_path / "t.db")
    return cluster.url(cluster.create_database())


def test_placeholders_rows_and_transactions(where):
    with dbconnect(where) as c:
        c.execute("CREATE TABLE kv (id INTEGER PRIMARY KEY, name TEXT, n BIGINT)")
    with dbconnect(where) as c:
        c.execute("INSERT INTO kv (id, name, n) VALUES (?, ?, ?)", (1, "one", 10))
        c.executemany("INSERT INTO kv (id, name, n) VALUES (?2, ?1, ?2 * 100)",
                      [("two", 2), ("three", 3)])
        # A `?` or `%` inside a literal is text, not a placeholder.
        c.execute("INSERT INTO kv (id, name, n) VALUES (?, 'a?b 100%', NULL)", (4,))
    other = dbconnect(where)  # a second session sees what the first committed
    assert other.execute("SELECT id, name, n FROM kv ORDER BY id").fetchall() == [
        (1, "one", 10), (2, "two", 200), (3, "three", 300), (4, "a?b 100%", None)]
    assert other.execute("SELECT name FROM kv WHERE id > ? AND (?2 IS NULL OR n = ?2)",
                         (1, None)).fetchall() == [("two",), ("three",), ("a?b 100%",)]
    assert other.execute("SELECT name FROM kv WHERE name LIKE '%?%'").fetchall() == [
        ("a?b 100%",)]
    other.row_factory = Row
    r = other.execute("SELECT id, name AS label FROM kv WHERE id = ?", (2,)).fetchone()
    assert r["label"] == "two" and r[0] == 2 and dict(r) == {"id": 2, "label": "two"}
    assert other.execute("SELECT id FROM kv WHERE id = 99").fetchone() is None
    # An exception inside `with` rolls the write back; reads alone hold no transaction.
    with pytest.raises(ZeroDivisionError):
        with dbconnect(where) as c:
            c.execute("DELETE FROM kv")
            1 / 0
    assert other.execute("SELECT count(*) FROM kv").fetchone()[0] == 4
    assert not other.in_transaction
    got = other.execute("INSERT INTO kv (id, name) VALUES (5, 'five') RETURNING id").fetchone()
    other.rollback()
    assert got[0] == 5
    assert other.execute("SELECT count(*) FROM kv").fetchone()[0] == 4
    other.close()


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open("/proc/%d/stat" % pid) as f:  # a zombie has stopped too
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_cluster_starts_on_loopback_and_stops_leaving_nothing():
    c = pgcluster.Cluster().start()
    try:
        pid, data, port = c.pid, c.dir, c.port
        assert _alive(pid)
        if os.geteuid() == 0:  # initdb refuses root: the server runs as postgres
            import pwd
            with open("/proc/%d/status" % pid) as f:
                uid = next(int(x.split()[1]) for x in f if x.startswith("Uid:"))
            assert uid == pwd.getpwnam(pgcluster.SUPERUSER).pw_uid
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        # The programs' role: owns its database, nothing more.
        url = c.url(c.create_database())
        assert url.startswith("postgresql://%s@127.0.0.1:%d/kw_" % (pgcluster.ROLE, port))
        with dbconnect(url) as db:
            assert db.execute("SELECT current_user, rolsuper, rolcreatedb FROM pg_roles"
                              " WHERE rolname = current_user").fetchone() == (
                                  pgcluster.ROLE, False, False)
            db.execute("CREATE TABLE t (id BIGINT)")
    finally:
        c.stop()
    deadline = time.time() + 10
    while _alive(pid) and time.time() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
    assert not os.path.exists(data)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
