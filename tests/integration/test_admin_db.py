"""kw-admin day-two database commands, on real databases while writers are busy."""
import os
import sqlite3
import subprocess
import threading
import time
from contextlib import closing

from kwstack import BUILD, db_settings, dbconnect, pg_mode, sqlite_only


def admin(db, *args):
    """kw-admin on the test database at db (on PostgreSQL: the database standing for it)."""
    env = dict(db_settings(db), PATH=os.environ["PATH"])
    return subprocess.run([os.path.join(BUILD, "kw-admin")] + list(args), env=env,
                          capture_output=True, text=True, timeout=120)


@sqlite_only("`db backup` copies the SQLite file; on PostgreSQL it points to pg_dump")
def test_backup_is_consistent_while_a_writer_runs(tmp_path):
    db = tmp_path / "kw.db"
    assert admin(db, "db", "migrate").returncode == 0
    stop = threading.Event()
    written = []

    def writer():
        c = sqlite3.connect(db, timeout=10)
        c.execute("PRAGMA busy_timeout=10000")
        i = 0
        while not stop.is_set():
            with c:
                c.execute("INSERT INTO fetch_runs (started_at, outcome) VALUES (?, 'ok')", (i,))
            written.append(i)
            i += 1
        c.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        time.sleep(0.3)
        dest = tmp_path / "backup.db"
        r = admin(db, "db", "backup", str(dest))
        assert r.returncode == 0, r.stderr
        assert "backup integrity: ok" in r.stdout
    finally:
        stop.set()
        t.join()
    with sqlite3.connect(dest) as c:
        n = c.execute("SELECT count(*) FROM fetch_runs").fetchone()[0]
        ids = [r[0] for r in c.execute("SELECT started_at FROM fetch_runs ORDER BY id")]
    assert 0 < n <= len(written)
    assert ids == list(range(n))  # a prefix of what was written: one consistent snapshot
    assert not (tmp_path / "backup.db.tmp").exists()


@sqlite_only("`db backup` writes a SQLite file; on PostgreSQL it points to pg_dump")
def test_backup_to_unwritable_place_fails_cleanly(tmp_path):
    db = tmp_path / "kw.db"
    assert admin(db, "db", "migrate").returncode == 0
    r = admin(db, "db", "backup", str(tmp_path / "no" / "such" / "dir" / "b.db"))
    assert r.returncode == 1 and "cannot create" in r.stderr


def test_check_and_vacuum(tmp_path):
    db = tmp_path / "kw.db"
    assert admin(db, "db", "migrate").returncode == 0
    # Closed connections: SQLite's last one checkpoints, so the file itself holds the freed
    # pages (left in the WAL, they would not be in the size kw-admin reports before vacuuming).
    with closing(dbconnect(db_settings(db))) as c, c:
        c.executemany("INSERT INTO fetch_runs (started_at, outcome, error) VALUES (?, 'ok', ?)",
                      [(i, "x" * 500) for i in range(5000)])
    with closing(dbconnect(db_settings(db))) as c, c:
        c.execute("DELETE FROM fetch_runs")
    r = admin(db, "db", "check")
    assert r.returncode == 0 and "database integrity: ok" in r.stdout
    r = admin(db, "db", "vacuum")
    assert r.returncode == 0, r.stderr
    if pg_mode():  # VACUUM (ANALYZE): space reused in place, the files not shrunk
        assert r.stdout.startswith("vacuumed ")
        return
    before, after = [int(x) for x in r.stdout.split(":")[1].replace("bytes", "").split("->")]
    assert after < before


@sqlite_only("it scribbles over the database file's pages; a PostgreSQL database is no file"
             " of ours to damage")
def test_check_reports_corruption(tmp_path):
    db = tmp_path / "kw.db"
    assert admin(db, "db", "migrate").returncode == 0
    with sqlite3.connect(db) as c:
        c.executemany("INSERT INTO fetch_runs (started_at, outcome, error) VALUES (?, 'ok', ?)",
                      [(i, "y" * 300) for i in range(3000)])
    c = sqlite3.connect(db)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    size = os.path.getsize(db)
    with open(db, "r+b") as f:  # scribble over an interior page
        f.seek(size // 2)
        f.write(b"\xff" * 4096)
    r = admin(db, "db", "check")
    assert r.returncode == 1
    assert "integrity" in (r.stdout + r.stderr)


def test_usage_errors_exit_2(tmp_path):
    assert admin(tmp_path / "kw.db", "db", "backup").returncode == 2
    assert admin(tmp_path / "kw.db", "db", "explode").returncode == 2
