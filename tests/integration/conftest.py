"""pytest fixtures: one real stack (lighttpd + kw-api workers + fresh SQLite) per test module."""
import pytest

from kwstack import Stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("stack"), workers=2)
    s.start()
    yield s
    s.stop()
