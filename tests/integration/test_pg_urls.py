"""DATABASE_URL's PostgreSQL forms, against the suite's throwaway cluster: postgresql:// and
postgres://, libpq's ?sslmode=, and the unix-socket form (?host=DIRECTORY, as
host=/run/postgresql on a Debian server). Each one is accepted by `kw-admin config check`,
migrates and checks a database, and wins over a DATABASE_PATH set beside it. Its password is
shown as *** and appears in no output, debug log lines included.

It needs the PostgreSQL pass's cluster (KW_TEST_DB=postgres); the SQLite pass has no server to
reach, and the forms that select SQLite are tested there (test_foundation.py, test_config.c).
"""
import os
import subprocess

import pytest

from kwstack import BUILD, dbconnect, pg_mode

pytestmark = pytest.mark.skipif(not pg_mode(), reason="DATABASE_URL's PostgreSQL forms need"
                                " the PostgreSQL pass's cluster")

PASSWORD = "pw-Never-Printed-52c1"  # trust authentication ignores it; it must never show


def admin(env, *args):
    return subprocess.run([os.path.join(BUILD, "kw-admin")] + list(args), env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("form", ["postgresql", "postgres", "sslmode", "socket"])
def test_every_url_form_reaches_the_server_and_hides_its_password(tmp_path, form):
    import pgcluster
    c = pgcluster.cluster()
    name = c.create_database()
    try:
        auth = "%s:%s" % (pgcluster.ROLE, PASSWORD)
        url = {
            "postgresql": "postgresql://%s@127.0.0.1:%d/%s" % (auth, c.port, name),
            "postgres": "postgres://%s@127.0.0.1:%d/%s" % (auth, c.port, name),
            "sslmode": "postgresql://%s@127.0.0.1:%d/%s?sslmode=disable" % (auth, c.port, name),
            "socket": "postgresql://%s@/%s?host=%s&port=%d" % (auth, name, c.dir, c.port),
        }[form]
        sqlite_file = tmp_path / "kw.db"
        envfile = tmp_path / "empty.env"
        envfile.write_text("")
        env = dict(os.environ, KW_ENV_FILE=str(envfile), DATABASE_URL=url,
                   DATABASE_PATH=str(sqlite_file), LOG_LEVEL="debug")
        runs = [admin(env, "config", "check"), admin(env, "db", "migrate"),
                admin(env, "db", "check")]
        for r in runs:
            assert r.returncode == 0, (r.args, r.stdout, r.stderr)
            assert PASSWORD not in r.stdout + r.stderr
        shown = [line for line in runs[0].stdout.splitlines()
                 if line.startswith("DATABASE_URL=")]
        assert len(shown) == 1 and "%s:***@" % pgcluster.ROLE in shown[0], shown
        # The URL won: the database is PostgreSQL's, and no SQLite file was made.
        with dbconnect(c.url(name)) as conn:
            assert conn.execute("SELECT count(*) FROM kw_schema_version").fetchone()[0] > 0
        assert not sqlite_file.exists()
    finally:
        c.drop_database(name)
