"""pytest fixtures: one real stack (lighttpd + kw-api workers + a fresh database) per test
module. With KW_TEST_DB=postgres the session starts a throwaway PostgreSQL cluster first
(pgcluster.py) and stops it at the end; each module's databases are dropped when it ends."""
import signal

import pytest

import kwstack
from kwstack import Stack


def _stop_on_term(signum, frame):
    raise KeyboardInterrupt("SIGTERM")


def pytest_configure(config):
    """SIGTERM (a `timeout`, a CI runner giving up) ends the session as Ctrl-C does: the
    fixtures' teardown stops every stack and the PostgreSQL cluster the session started.
    Python's default for SIGTERM is to die at once, leaving those servers running."""
    signal.signal(signal.SIGTERM, _stop_on_term)


@pytest.fixture(scope="session", autouse=True)
def postgres_cluster():
    """The session's PostgreSQL cluster (KW_TEST_DB=postgres), else nothing."""
    if not kwstack.pg_mode():
        yield None
        return
    import pgcluster
    cluster = pgcluster.cluster()
    yield cluster
    pgcluster.stop()


@pytest.fixture(scope="module", autouse=True)
def module_databases(postgres_cluster):
    """Drop the PostgreSQL databases a module made once its stacks have stopped: a stack made
    again for the same directory within the module finds its data, as with a SQLite file."""
    yield
    kwstack.drop_databases()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("stack"), workers=2)
    s.start()
    yield s
    s.stop()
