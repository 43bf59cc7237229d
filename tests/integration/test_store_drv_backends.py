"""The driver layer's unit test (tests/unit/test_store_drv.c) against the database this suite
runs on: a fresh SQLite file, or with KW_TEST_DB=postgres a fresh database of the throwaway
cluster. The same C checks (values, transactions, savepoints, errors, RETURNING, the data
generation another connection sees) pass on both backends; `make unit` runs them on SQLite
alone. The same for kw-fetch's market ingest (tests/unit/test_store_ingest.c), which
PostgreSQL batches and SQLite stores one at a time: on PostgreSQL it also plays its input into
SQLite and compares every row."""
import os
import subprocess

from kwstack import BUILD, database


def test_driver_unit_checks_pass_on_this_backend(tmp_path):
    db = database(tmp_path / "drv.db")
    target = db.url or db.path
    r = subprocess.run([os.path.join(BUILD, "tests", "test_store_drv")],
                       env=dict(os.environ, KW_TEST_DB_TARGET=target), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[  PASSED  ] 5 test(s)." in r.stdout + r.stderr


def test_market_ingest_unit_checks_pass_on_this_backend(tmp_path):
    db = database(tmp_path / "ingest.db")
    target = db.url or db.path
    r = subprocess.run([os.path.join(BUILD, "tests", "test_store_ingest")],
                       env=dict(os.environ, KW_TEST_DB_TARGET=target), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[  PASSED  ] 1 test(s)." in r.stdout + r.stderr
