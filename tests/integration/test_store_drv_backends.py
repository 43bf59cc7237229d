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


def _unit_checks_pass(tmp_path, binary, tests):
    """Run the cmocka binary against a fresh database of this suite's backend; all of its
    tests (how many it has) pass."""
    db = database(tmp_path / (binary + ".db"))
    r = subprocess.run([os.path.join(BUILD, "tests", binary)],
                       env=dict(os.environ, KW_TEST_DB_TARGET=db.url or db.path),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[  PASSED  ] %d test(s)." % tests in r.stdout + r.stderr


def test_driver_unit_checks_pass_on_this_backend(tmp_path):
    _unit_checks_pass(tmp_path, "test_store_drv", 5)


def test_market_ingest_unit_checks_pass_on_this_backend(tmp_path):
    _unit_checks_pass(tmp_path, "test_store_ingest", 1)
