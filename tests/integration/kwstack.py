"""kwstack — start and stop a real KalshiWhale stack for tests.

A Stack is one lighttpd (config generated from lighttpd.conf.example by
deploy/gen-lighttpd-conf.sh) with real kw-api workers spawned by mod_fastcgi, a fresh database
(a SQLite file by default; see below) and a .env file, all inside one temporary directory, on
free loopback ports. It stops only the processes it started, by PID. Run as root, the web
servers, workers and kw-ws run as RUN_USER, from copies of the programs and the dashboard that
RUN_USER can reach (run_bin(), run_www()), wherever the checkout is. When the suite runs a
sanitizer build (KW_SANITIZE=1) every process writes its sanitizer report to the stack's
directory, and stop() fails the test if any report exists. KW_TEST_THREADS=N sets every
stack's KW_THREADS (accept threads per kw-api worker) unless the test sets it. Every answer a
test receives from a stack is checked against the OpenAPI document (contract.py): a mismatch
fails the test that received it.

The database: SQLite by default. With KW_TEST_DB=postgres every stack (and every test that
makes a database of its own, through database()) gets a fresh database on a PostgreSQL
cluster the session starts itself (pgcluster.py), and the programs get its DATABASE_URL, with
DATABASE_PATH still placing the node's own files (the limiter's table, the locks). Tests read and write a database only through dbconnect() / Stack.sql(), which
hand back a DB-API connection that takes SQLite's `?`/`?N` placeholders on either backend.
"""
import os
import signal
import socket
import sqlite3
import subprocess
import time

import requests

import contract

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("KW_BUILD", os.path.join(TOP, "build"))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sanitizer_env(directory):
    """Environment that sends sanitizer reports to files in directory."""
    if os.environ.get("KW_SANITIZE") != "1":
        return {}
    return {
        "ASAN_OPTIONS": "log_path=%s/sanitizer:detect_leaks=1:abort_on_error=0" % directory,
        "UBSAN_OPTIONS": "log_path=%s/sanitizer:print_stacktrace=1:halt_on_error=1" % directory,
        "LSAN_OPTIONS": "log_path=%s/sanitizer" % directory,
        "TSAN_OPTIONS": "log_path=%s/sanitizer:second_deadlock_stack=1" % directory,
    }


def sanitizer_reports(directory):
    out = []
    for name in sorted(os.listdir(directory)):
        if name.startswith("sanitizer"):
            with open(os.path.join(directory, name), errors="replace") as f:
                out.append(f.read())
    return out


# The account the web servers, the kw-api workers and kw-ws run as when the tests run as root
# (as in CI): a server never serves as root, and the tests should fail where a deployment
# would, e.g. on a file its processes cannot write. Debian has it; Apache's children use it.
RUN_USER = "www-data"


def run_ids():
    """(uid, gid) of RUN_USER when the tests run as root; None when they run unprivileged
    (then every process runs as the invoking user, as it must)."""
    if os.geteuid() != 0:
        return None
    import pwd
    pw = pwd.getpwnam(RUN_USER)
    return pw.pw_uid, pw.pw_gid


def as_run_user():
    """subprocess.Popen arguments that start a program as RUN_USER when running as root."""
    ids = run_ids()
    return {"user": ids[0], "group": ids[1], "extra_groups": []} if ids else {}


# What the processes running as RUN_USER execute and serve: the programs and the dashboard.
# A checkout may sit where RUN_USER cannot reach it (a clone in root's home, mode 0700), so
# when the tests run as root those processes get copies in a world-readable directory under
# /tmp, made once per session and removed when it ends. Without root every process runs as
# the invoking user, who can read the checkout: BUILD and deploy/www are used as they are.
_RUN_COPY = []

PROGRAMS = ("kw-api", "kw-fetch", "kw-ws", "kw-admin")


def _run_copy():
    import atexit
    import shutil
    import tempfile
    if not _RUN_COPY:
        top = tempfile.mkdtemp(prefix="kw-programs-", dir="/tmp")
        os.chmod(top, 0o755)
        atexit.register(shutil.rmtree, top, True)
        os.mkdir(os.path.join(top, "bin"), 0o755)
        for prog in PROGRAMS:
            shutil.copy2(os.path.join(BUILD, prog), os.path.join(top, "bin", prog))
        shutil.copytree(os.path.join(TOP, "deploy", "www"), os.path.join(top, "www"))
        for base, dirs, files in os.walk(top):
            for name in dirs:
                os.chmod(os.path.join(base, name), 0o755)
            for name in files:
                path = os.path.join(base, name)
                os.chmod(path, 0o755 if base.endswith("bin") else 0o644)
        _RUN_COPY.append(top)
    return _RUN_COPY[0]


def run_bin():
    """The directory holding the programs that RUN_USER's processes run (see _run_copy)."""
    return os.path.join(_run_copy(), "bin") if run_ids() else BUILD


def run_www():
    """The dashboard's files as the web servers serve them (see _run_copy)."""
    return os.path.join(_run_copy(), "www") if run_ids() else os.path.join(TOP, "deploy", "www")


# Stacks' own directories, by (test directory, kind): pytest's directories are private to the
# user running the tests, so a stack whose processes run as RUN_USER keeps its state in a
# world-traversable directory under /tmp. Every stack made for the same test directory gets
# the same one, so that a restarted stack finds its database as it would in the test
# directory. Removed when the test session ends.
_OWN_DIRS = {}


def own_dir(directory, prefix):
    import atexit
    import shutil
    import tempfile
    key = (str(directory), prefix)
    if key not in _OWN_DIRS:
        own = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
        os.chmod(own, 0o755)
        _OWN_DIRS[key] = own
        atexit.register(shutil.rmtree, own, True)
    return _OWN_DIRS[key]


def process_ids(pid):
    """(uids, gids, groups) of a process from /proc: real, effective, saved and filesystem
    ids, and its supplementary groups."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                out[key] = [int(v) for v in value.split()]
    return out["Uid"], out["Gid"], out["Groups"]


# ---- the database: SQLite, or PostgreSQL with KW_TEST_DB=postgres ----------------------------

def pg_mode():
    """True when the suite runs on PostgreSQL (KW_TEST_DB=postgres) instead of SQLite."""
    db = os.environ.get("KW_TEST_DB", "sqlite")
    if db not in ("sqlite", "postgres"):
        raise ValueError("KW_TEST_DB=%s: expected sqlite or postgres" % db)
    return db == "postgres"


def sqlite_only(reason):
    """Mark a test about something only the SQLite backend has (its file, its PRAGMAs):
    skipped on PostgreSQL, with reason saying why it has no PostgreSQL counterpart."""
    import pytest
    return pytest.mark.skipif(pg_mode(), reason="SQLite only: " + reason)


# conn.row_factory = Row: rows readable by column name (and index), on either backend.
Row = sqlite3.Row


def db_errors():
    """What reading a database that a program has not created (or finished creating) yet
    raises: SQLite's missing table or busy file; PostgreSQL's missing table or refused
    connection."""
    if not pg_mode():
        return (sqlite3.OperationalError,)
    import psycopg2
    return (psycopg2.OperationalError, psycopg2.ProgrammingError)


class Database:
    """One test database standing at path: the SQLite file itself, or with KW_TEST_DB=postgres
    a fresh database of its own on the session's cluster (path is then only its key)."""

    def __init__(self, path):
        self.path = str(path)
        self.name = None
        if pg_mode():
            import pgcluster
            self.name = pgcluster.cluster().create_database()

    @property
    def url(self):
        import pgcluster
        return pgcluster.cluster().url(self.name) if self.name else None

    @property
    def settings(self):
        """The settings that point a program at this database. On PostgreSQL DATABASE_PATH
        stays: it places the node's local files (the limiter's table, the run and request
        locks) beside it, as on SQLite."""
        if self.name:
            return {"DATABASE_URL": self.url, "DATABASE_PATH": self.path}
        return {"DATABASE_PATH": self.path}

    def connect(self, timeout=5.0):
        return dbconnect(self.url or self.path, timeout)

    def drop(self):
        if self.name:
            import pgcluster
            pgcluster.cluster().drop_database(self.name)
            self.name = None


# Databases by path. A stack made again for the same directory (a restart) must find its data,
# so a PostgreSQL database lives until drop_databases(), which the suite's conftest calls when
# a test module ends; SQLite files go with their directories.
_DATABASES = {}


def database(path):
    """The Database standing at path (made on first use)."""
    return _database_at(path)


def _database_at(path):
    """database(), under a name LighttpdStack's `database` argument does not hide."""
    key = str(path)
    if key not in _DATABASES:
        _DATABASES[key] = Database(key)
    return _DATABASES[key]


def db_settings(path):
    """The settings for a program's database at path: {"DATABASE_PATH": path} on SQLite; on
    PostgreSQL also DATABASE_URL, of a database of its own."""
    return database(path).settings


def schema_version(conn, set_to=None):
    """The schema version a database records (its newest applied migration), or with set_to,
    record that one instead (a test of a database newer than the programs)."""
    if isinstance(conn, _PgConnection):
        # The PostgreSQL store's record: one row per applied migration (lib/store_pg.c).
        if set_to is not None:
            conn.execute("CREATE TABLE IF NOT EXISTS kw_schema_version (version BIGINT NOT NULL,"
                         " name TEXT NOT NULL, applied_at BIGINT NOT NULL)")
            conn.execute("INSERT INTO kw_schema_version VALUES (?, 'set by a test', 0)",
                         (int(set_to),))
            return int(set_to)
        return conn.execute("SELECT coalesce(max(version), 0) FROM kw_schema_version"
                            ).fetchone()[0]
    if set_to is not None:
        conn.execute("PRAGMA user_version = %d" % int(set_to))
        return int(set_to)
    return conn.execute("PRAGMA user_version").fetchone()[0]


def drop_databases():
    """Drop every PostgreSQL database made so far (no-op on SQLite)."""
    while _DATABASES:
        _DATABASES.popitem()[1].drop()


def dbconnect(where, timeout=5.0):
    """A DB-API connection to a test database: where is a stack, a settings or environment
    dict (DATABASE_URL wins over DATABASE_PATH, as in the programs), a postgresql:// URL or a
    SQLite path. SQLite: sqlite3's own connection (timeout: its busy timeout). PostgreSQL: a
    psycopg2 connection behind the same interface: `?` and `?N` placeholders, execute() on
    the connection, `with conn:` commits (or rolls back), row_factory = Row for rows by name,
    and, as sqlite3 does, a transaction opened only by a statement that writes."""
    if isinstance(where, LighttpdStack):
        where = where.settings
    if isinstance(where, dict):
        where = where.get("DATABASE_URL") or where["DATABASE_PATH"]
    where = str(where)
    if where.startswith(("postgresql://", "postgres://")):
        return _PgConnection(where)
    return sqlite3.connect(where, timeout=timeout)


def _pg_statement(sql, params):
    """sql with SQLite's placeholders (`?`: the next number after the largest so far; `?N`)
    as psycopg2's `%s`, every literal `%` doubled, and the parameters in the order used; with
    no placeholder, sql as it is and None (psycopg2 then reads no `%` in it)."""
    out, args, i, largest = [], [], 0, 0
    quote = None
    params = list(params or ())
    while i < len(sql):
        ch = sql[i]
        if quote:
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "?":
            j = i + 1
            while j < len(sql) and sql[j].isdigit():
                j += 1
            n = int(sql[i + 1:j]) if j > i + 1 else largest + 1
            largest = max(largest, n)
            if n > len(params):
                raise ValueError("placeholder ?%d but %d parameters: %s" % (n, len(params), sql))
            out.append("%s")
            args.append(params[n - 1])
            i = j
            continue
        out.append("%%" if ch == "%" else ch)
        i += 1
    if not args:
        return sql, None
    return "".join(out), args


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "UPSERT")


class _PgCursor:
    """A psycopg2 cursor that takes SQLite's placeholders."""

    def __init__(self, conn):
        self._conn = conn
        if conn.row_factory is not None:
            import psycopg2.extras
            self._cur = conn.raw.cursor(cursor_factory=psycopg2.extras.DictCursor)
        else:
            self._cur = conn.raw.cursor()

    def execute(self, sql, params=()):
        if sql.lstrip().split(None, 1)[0].upper() in _WRITES:
            self._conn._begin()
        self._cur.execute(*_pg_statement(sql, params))
        return self

    def executemany(self, sql, seq):
        for params in seq:
            self.execute(sql, params)
        return self

    def fetchone(self):
        return self._cur.fetchone() if self._cur.description else None

    def fetchall(self):
        return self._cur.fetchall() if self._cur.description else []

    def __iter__(self):
        return iter(self.fetchall())

    @property
    def rowcount(self):
        return self._cur.rowcount

    @property
    def description(self):
        return self._cur.description

    def close(self):
        self._cur.close()


class _PgConnection:
    """psycopg2 in autocommit mode, opening a transaction before the first write as sqlite3
    does: reads alone never leave a session idle in a transaction (holding locks against the
    programs' migrations) and always see what the programs committed."""

    def __init__(self, url):
        import psycopg2
        self.raw = psycopg2.connect(url, connect_timeout=10)
        self.raw.autocommit = True
        self.row_factory = None
        self._in_tx = False

    def _begin(self):
        if not self._in_tx:
            self.raw.cursor().execute("BEGIN")
            self._in_tx = True

    @property
    def in_transaction(self):
        return self._in_tx

    def cursor(self):
        return _PgCursor(self)

    def execute(self, sql, params=()):
        return self.cursor().execute(sql, params)

    def executemany(self, sql, seq):
        return self.cursor().executemany(sql, seq)

    def commit(self):
        if self._in_tx:
            self._in_tx = False
            self.raw.cursor().execute("COMMIT")

    def rollback(self):
        if self._in_tx:
            self._in_tx = False
            self.raw.cursor().execute("ROLLBACK")

    def close(self):
        self.raw.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is None:
            self.commit()
        else:
            self.rollback()
        return False


def write_env_file(path, settings):
    with open(path, "w") as f:
        for k, v in settings.items():
            f.write("%s=%s\n" % (k, v))


class LighttpdStack:
    """lighttpd + kw-api workers on a free port, with their own database and settings."""

    # kw-api processes that live longer than one request (FastCGI workers): worker_pids()
    # lists them. False for the plain-CGI stacks, where every request is a process of its own.
    persistent = True

    def __init__(self, directory, settings=None, workers=2, wait=True, ws=False, ws_args=(),
                 database=None):
        self._pytest_dir = str(directory)
        os.makedirs(self._pytest_dir, exist_ok=True)
        self.dir = self._state_dir()
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.tls_port = free_port()
        self.ws_port = free_port()
        # The SQLite file (on PostgreSQL: the key of the stack's own database; see database(),
        # and the place of the node's local files: the limiter's table, the locks).
        self.db = os.path.join(self.dir, "kalshiwhale.db")
        # database=another_stack.database: a second node on the first one's PostgreSQL
        # database (its own port, state directory and DATABASE_PATH).
        if database is not None and not database.name:
            raise ValueError("nodes share a database only on PostgreSQL (KW_TEST_DB=postgres)")
        self.database = database if database is not None else _database_at(self.db)
        self.env_file = os.path.join(self.dir, "kalshiwhale.env")
        # Every stack has a bootstrap admin key that .get()/.post() send, and a limit high
        # enough that tests of other features are never throttled; security tests override.
        # DATABASE_PATH is this stack's own file: on PostgreSQL it places this node's files,
        # also when the database is another node's.
        self.settings = dict(self.database.settings, DATABASE_PATH=self.db, LOG_LEVEL="info",
                             API_KEY="kw_test_" + os.urandom(24).hex(),
                             RATE_LIMIT_PER_MINUTE="1000000")
        # KW_TEST_THREADS runs the suite with that many accept threads per kw-api worker
        # (make check's threaded pass); a test that sets KW_THREADS itself still wins.
        if os.environ.get("KW_TEST_THREADS"):
            self.settings["KW_THREADS"] = os.environ["KW_TEST_THREADS"]
        self.settings.update(settings or {})
        self.api_key = self.settings.get("API_KEY") or None
        self.workers = workers
        # Where the web server (or the socket starter) finds kw-api: a test of what the web
        # server answers when no worker does puts a stand-in there (tests/integration/
        # bad_fcgi.py); None: the usual kw-api (run_bin()).
        self.api_bin_dir = None
        self.proc = None
        self.base = "http://127.0.0.1:%d" % self.port
        self.https_base = "https://127.0.0.1:%d" % self.tls_port
        contract.install()
        contract.watch(self.base)
        contract.watch(self.https_base)
        self.errorlog = os.path.join(self.dir, "lighttpd-error.log")
        self._wait = wait
        # ws=True also runs the real kw-ws on ws_port (lighttpd forwards /ws to it); it needs
        # a ticket secret, so one is made up unless the test sets JWT_SECRET.
        self.ws = ws
        self.ws_args = list(ws_args)
        self.ws_proc = None
        self.ws_returncode = None
        self.ws_url = "ws://127.0.0.1:%d/ws" % self.port
        if ws:
            self.settings.setdefault("JWT_SECRET", os.urandom(32).hex())

    def _state_dir(self):
        """Where the stack keeps its database, settings, socket and logs."""
        return own_dir(self._pytest_dir, "kw-lighttpd-") if run_ids() else self._pytest_dir

    def _own_state(self):
        """Give the state directory (and the error log, which lighttpd opens only once it
        runs as RUN_USER) to RUN_USER when running as root: the processes write there."""
        ids = run_ids()
        if not ids:
            return
        open(self.errorlog, "ab").close()
        os.chown(self.errorlog, *ids)
        for base, dirs, files in os.walk(self.dir):
            for name in [base] + [os.path.join(base, f) for f in files]:
                os.chown(name, *ids)

    def server_pids(self):
        """The web server's processes that serve requests (lighttpd: its one process)."""
        return [self.proc.pid] if self.proc else []

    def _tls_pem(self):
        pem = os.path.join(self.dir, "server.pem")
        if not os.path.exists(pem):
            key, crt = pem + ".key", pem + ".crt"
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", key, "-out", crt, "-days", "1", "-subj",
                            "/CN=localhost"], check=True, capture_output=True)
            with open(pem, "w") as out:
                out.write(open(crt).read() + open(key).read())
        return pem

    def start(self):
        write_env_file(self.env_file, self.settings)
        conf = os.path.join(self.dir, "lighttpd.conf")
        q = lambda s: '"%s"' % s
        subprocess.run(["sh", os.path.join(TOP, "deploy", "gen-lighttpd-conf.sh"),
                        os.path.join(TOP, "lighttpd.conf.example"), conf,
                        "kw_bin=" + q(self.api_bin_dir or run_bin()), "kw_www=" + q(run_www()),
                        "kw_state=" + q(self.dir), "kw_log_dir=" + q(self.dir),
                        "kw_env_file=" + q(self.env_file), "kw_host=" + q("127.0.0.1"),
                        "kw_port=%d" % self.port, "kw_tls_port=%d" % self.tls_port,
                        "kw_tls_pem=" + q(self._tls_pem()), "kw_ws_port=%d" % self.ws_port,
                        "kw_workers=%d" % self.workers]
                       + (["kw_user=" + q(RUN_USER), "kw_group=" + q(RUN_USER)]
                          if run_ids() else []), check=True)
        self._own_state()
        env = dict(os.environ)
        env.pop("KW_ENV_FILE", None)
        env.update(sanitizer_env(self.dir))
        # In the foreground (-D) lighttpd's workers inherit its stderr; pointing it at the
        # same file as server.errorlog keeps one log for both, as under systemd's journal.
        return self._launch(["lighttpd", "-D", "-f", conf], env)

    def _launch(self, argv, env=None):
        """Start the web server (kw-ws first, if asked) with its stderr in the error log."""
        self._stderr = open(self.errorlog, "ab")
        if self.ws:
            self.start_ws()
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                     stderr=self._stderr)
        if self._wait:
            try:
                self.wait_ready()
            except Exception:
                self.stop()  # a stack that never came up leaves no server running
                raise
        return self

    def wait_ready(self, timeout=15):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("lighttpd exited:\n%s" % self.log())
            try:
                r = requests.get(self.base + "/api/health", timeout=2)
                if r.status_code in (200, 503) and r.headers.get("X-Request-Id"):
                    return
                last = r.status_code
            except requests.ConnectionError as e:
                last = e
            time.sleep(0.05)
        raise RuntimeError("stack not ready: %s\n%s" % (last, self.log()))

    def url(self, path):
        return self.base + path

    @property
    def threads(self):
        """Accept threads per kw-api worker: KW_THREADS, or kw-api's default of 2."""
        return int(self.settings.get("KW_THREADS", "2"))

    def sql(self, timeout=5.0):
        """A connection to the stack's database (dbconnect())."""
        return dbconnect(self.settings, timeout)

    def _auth(self, kw):
        """Send the stack's key unless anonymous=True or the caller set credentials."""
        anonymous = kw.pop("anonymous", False)
        headers = dict(kw.pop("headers", None) or {})
        if not anonymous and self.api_key and not any(
                h.lower() in ("x-api-key", "authorization") for h in headers):
            headers["X-API-Key"] = self.api_key
        kw["headers"] = headers
        kw.setdefault("timeout", 10)
        return kw

    def get(self, path, **kw):
        return requests.get(self.base + path, **self._auth(kw))

    def post(self, path, **kw):
        return requests.post(self.base + path, **self._auth(kw))

    def request(self, method, path, **kw):
        return requests.request(method, self.base + path, **self._auth(kw))

    def log(self):
        try:
            with open(self.errorlog, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def start_ws(self, timeout=10):
        """Start build/kw-ws with this stack's settings and wait until it accepts connections."""
        env = dict(os.environ)
        env.update(sanitizer_env(self.dir))
        env.update({"KW_ENV_FILE": self.env_file, "WS_PORT": str(self.ws_port)})
        self.ws_returncode = None
        # Its own handle on the stack's error log, so that subclasses (another web server in
        # front) can call start_ws()/stop_ws() whatever they do with theirs.
        self._ws_stderr = open(self.errorlog, "ab")
        self._own_state()  # it may be the first to open the database
        self.ws_proc = subprocess.Popen([os.path.join(run_bin(), "kw-ws")] + self.ws_args,
                                        env=env, stdout=subprocess.DEVNULL,
                                        stderr=self._ws_stderr, **as_run_user())
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.ws_proc.poll() is not None:
                raise RuntimeError("kw-ws exited with %s:\n%s" % (self.ws_proc.returncode,
                                                                    self.log()))
            try:
                socket.create_connection(("127.0.0.1", self.ws_port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("kw-ws not listening:\n%s" % self.log())

    def stop_ws(self, timeout=10):
        """SIGTERM kw-ws (SIGKILL after timeout); returns its exit status."""
        if self.ws_proc and self.ws_proc.poll() is None:
            self.ws_proc.send_signal(signal.SIGTERM)
            try:
                self.ws_proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.ws_proc.kill()
                self.ws_proc.wait()
        if self.ws_proc:
            self.ws_returncode = self.ws_proc.returncode
            self._ws_stderr.close()
        self.ws_proc = None
        return self.ws_returncode

    def worker_pids(self):
        """PIDs of this stack's kw-api workers: lighttpd starts `kw-api --workers N`, whose
        children they are."""
        kids = lambda pid: [int(p) for p in subprocess.run(
            ["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]
        return [w for sup in kids(self.proc.pid) for w in kids(sup)]

    def _stop_server(self):
        """SIGTERM the web server (SIGKILL after 10 s) and close its log file."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self._stderr.close()
        self.proc = None

    def stop(self):
        self.stop_ws()
        if self.proc and self.proc.poll() is None:
            supervisors = subprocess.run(["pgrep", "-P", str(self.proc.pid)],
                                         capture_output=True, text=True).stdout.split()
            workers = self.worker_pids() + [int(p) for p in supervisors]
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            # lighttpd signals its workers; give them a moment, then make sure.
            deadline = time.time() + 5
            for pid in workers:
                while time.time() < deadline:
                    try:
                        os.kill(pid, 0)
                    except ProcessLookupError:
                        break
                    time.sleep(0.05)
                else:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        if self.proc:
            self._stderr.close()
        self.proc = None
        reports = sanitizer_reports(self.dir)
        assert not reports, "sanitizer reports:\n" + "\n".join(reports)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def run_admin(stack_or_settings, *args, env_extra=None, check=False):
    """Run kw-admin with a stack's settings file; returns CompletedProcess (text)."""
    env = dict(os.environ)
    if isinstance(stack_or_settings, LighttpdStack):
        env["KW_ENV_FILE"] = stack_or_settings.env_file
    env.update(env_extra or {})
    return subprocess.run([os.path.join(BUILD, "kw-admin")] + list(args), env=env,
                          capture_output=True, text=True, check=check, timeout=60)


APACHE_MODULES = ["mpm_event", "authz_core", "mime", "dir", "macro", "headers", "setenvif",
                  "proxy", "proxy_fcgi", "proxy_wstunnel", "ssl", "socache_shmcb"]


class ApacheStack(LighttpdStack):
    """Apache httpd (mod_proxy_fcgi, config = a small server config that includes
    apache.conf.example) in front of kw-api workers on a unix socket — the deployments
    apache.conf.example documents. Same interface as Stack.

    Apache will not run its children as root: when the tests run as root, they and the kw-api
    workers (whichever starter) run as RUN_USER, so this stack keeps its socket, database,
    settings and logs in a world-readable directory of its own under /tmp (own_dir) and
    serves the dashboard from run_www()."""

    # How the kw-api workers are started: a listening socket handed over as stdin the way
    # systemd's StandardInput=socket does it (kw-api --workers N supervises them: the
    # default), spawn-fcgi (which sends the workers' stderr to /dev/null, so LOG_FILE is set,
    # as the README says to), kw-api binding --socket itself, or mod_fcgid.
    STARTERS = ("systemd-socket", "spawn-fcgi", "socket-option", "fcgid")

    def __init__(self, directory, settings=None, workers=2, wait=True, ws=False, ws_args=(),
                 starter="systemd-socket", database=None):
        assert starter in self.STARTERS
        self.starter = starter
        self.extra_conf = []
        self.supervisor = None
        LighttpdStack.__init__(self, directory, settings, workers, wait, ws, ws_args,
                               database=database)
        self.errorlog = os.path.join(self.dir, "apache-error.log")
        self.api_log = os.path.join(self.dir, "kw-api.log")
        self.workers_proc = []
        if starter == "spawn-fcgi" and "LOG_FILE" not in (settings or {}):
            self.settings["LOG_FILE"] = self.api_log

    def _state_dir(self):
        return own_dir(self._pytest_dir, "kw-apache-")

    def start(self):
        write_env_file(self.env_file, self.settings)
        env = dict(os.environ)
        env.pop("KW_ENV_FILE", None)
        env.update(sanitizer_env(self.dir))
        env["KW_ENV_FILE"] = self.env_file
        sock = os.path.join(self.dir, "kw-api.sock")
        if os.path.exists(sock):  # an earlier stack's, for the same test directory
            os.unlink(sock)
        pidfile = os.path.join(self.dir, "kw-api.pids")
        self._api_log = open(self.api_log, "ab")
        api = os.path.join(self.api_bin_dir or run_bin(), "kw-api")
        # Whoever starts the workers (mod_fcgid: Apache's children) runs them as RUN_USER
        # under root: they write the database, the log file and the socket's directory.
        self._own_state()
        if self.starter == "fcgid":
            pass
        elif self.starter == "spawn-fcgi":
            ids = ["-u", RUN_USER, "-g", RUN_USER] if run_ids() else []
            subprocess.run(["spawn-fcgi", "-s", sock, "-M", "0666", "-F", str(self.workers),
                            "-P", pidfile] + ids + ["--", api], env=env,
                           check=True, stdout=subprocess.DEVNULL, stderr=self._api_log)
            self.workers_proc = [int(p) for p in open(pidfile).read().split()]
        elif self.starter == "systemd-socket":
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(sock)
            listener.listen(128)
            os.chmod(sock, 0o666)
            self.supervisor = subprocess.Popen([api, "--workers", str(self.workers)], env=env,
                                               stdin=listener.fileno(),
                                               stdout=subprocess.DEVNULL, stderr=self._api_log,
                                               **as_run_user())
            listener.close()
        else:
            self.supervisor = subprocess.Popen([api, "--socket", sock, "--workers",
                                                str(self.workers)], env=env,
                                               stdout=subprocess.DEVNULL, stderr=self._api_log,
                                               **as_run_user())
            deadline = time.time() + 10
            while not os.path.exists(sock) and time.time() < deadline:
                time.sleep(0.02)
            os.chmod(sock, 0o666)
        pem = self._tls_pem()
        mods = "/usr/lib/apache2/modules"
        conf = os.path.join(self.dir, "httpd.conf")
        lines = ["ServerRoot /etc/apache2",
                 "PidFile %s/apache.pid" % self.dir,
                 "ErrorLog %s" % self.errorlog,
                 "LogLevel warn",
                 "TypesConfig /etc/mime.types",
                 "DirectoryIndex index.html"]
        lines += ["LoadModule %s_module %s/mod_%s.so" % (m, mods, m) for m in APACHE_MODULES]
        if run_ids():
            lines += ["User " + RUN_USER, "Group " + RUN_USER]
        # apache.conf.example keeps up to KW_API_CONNECTIONS kw-api connections open per
        # Apache child (enablereuse), and an idle one holds a kw-api thread: children x
        # connections <= kw-api's threads, the rule its comment and the README give. One child
        # with a connection per thread, as the README's dedicated-host setting has it.
        threads = self.workers * self.threads
        lines += ["StartServers 1", "ServerLimit 1", "ThreadsPerChild 64",
                  "MaxRequestWorkers 64", "MinSpareThreads 1", "MaxSpareThreads 64",
                  "Define KW_API_CONNECTIONS %d" % threads]
        lines += ["Listen 127.0.0.1:%d" % self.port, "Listen 127.0.0.1:%d" % self.tls_port,
                  "Define KW_WWW %s" % run_www(),
                  "Define KW_API_SOCKET %s" % sock,
                  "Define KW_WS_PORT %d" % self.ws_port,
                  "Define KW_SERVER_NAME localhost",
                  "Define KW_PORT %d" % self.port,
                  "Define KW_TLS_PORT %d" % self.tls_port,
                  "Define KW_TLS_CERT %s.crt" % pem,
                  "Define KW_TLS_KEY %s.key" % pem,
                  "Define KW_ENV_FILE %s" % self.env_file]
        if self.starter == "fcgid":
            # mod_fcgid runs KW_PREFIX/bin/kw-api itself: a copy in a prefix of our own.
            import shutil
            prefix = os.path.join(self.dir, "prefix")
            os.makedirs(os.path.join(prefix, "bin"), exist_ok=True)
            bin_new = os.path.join(prefix, "bin", ".kw-api.new")
            shutil.copy(os.path.join(BUILD, "kw-api"), bin_new)
            os.replace(bin_new, os.path.join(prefix, "bin", "kw-api"))
            lines += ["LoadModule fcgid_module %s/mod_fcgid.so" % mods,
                      "LoadModule alias_module %s/mod_alias.so" % mods,
                      "FcgidIPCDir %s/fcgid" % self.dir,
                      "FcgidProcessTableFile %s/fcgid_shm" % self.dir,
                      "Define KW_FCGID", "Define KW_PREFIX %s" % prefix]
            passed = dict(sanitizer_env(self.dir))
            passed.update({k: os.environ[k] for k in CGI_PASS_ENV if os.environ.get(k)})
            lines += ["FcgidInitialEnv %s %s" % kv for kv in passed.items()]
        lines += self.extra_conf  # server-level additions (the benchmark's baseline)
        lines += ["Include %s" % os.path.join(TOP, "apache.conf.example")]
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        return self._launch(["apache2", "-DFOREGROUND", "-f", conf], env)

    def log(self):
        out = ""
        for path in (self.errorlog, self.api_log):
            try:
                with open(path, errors="replace") as f:
                    out += f.read()
            except FileNotFoundError:
                pass
        return out

    def server_pids(self):
        return _children(self.proc)

    def worker_pids(self):
        if self.supervisor:
            out = subprocess.run(["pgrep", "-P", str(self.supervisor.pid)],
                                 capture_output=True, text=True)
            return [int(p) for p in out.stdout.split()]
        if self.starter == "fcgid":  # children of mod_fcgid's process manager
            out = subprocess.run(["pgrep", "-f", os.path.join(self.dir, "prefix", "bin")],
                                 capture_output=True, text=True)
            return [int(p) for p in out.stdout.split()]
        return [p for p in self.workers_proc if os.path.exists("/proc/%d" % p)]

    def stop(self):
        import shutil
        fcgid_workers = self.worker_pids() if self.starter == "fcgid" and self.proc else []
        self.stop_ws()
        self._stop_server()
        deadline = time.time() + 5
        for pid in self.workers_proc:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            while time.time() < deadline and os.path.exists("/proc/%d" % pid):
                time.sleep(0.05)
            if os.path.exists("/proc/%d" % pid):
                os.kill(pid, signal.SIGKILL)
        self.workers_proc = fcgid_workers  # Apache stops them; below makes sure
        for pid in fcgid_workers:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        self.workers_proc = []
        if self.supervisor:
            kids = self.worker_pids()
            self.supervisor.send_signal(signal.SIGTERM)
            try:
                self.supervisor.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.supervisor.kill()
                self.supervisor.wait()
            for pid in kids:  # the supervisor stops them; make sure
                if os.path.exists("/proc/%d" % pid):
                    os.kill(pid, signal.SIGKILL)
            self.supervisor = None
        if hasattr(self, "_api_log"):
            self._api_log.close()
        reports = sanitizer_reports(self.dir)
        # A copy of the logs with the test's own directory; ours stays until the session ends
        # (own_dir), with the database.
        for name in os.listdir(self.dir):
            if name.endswith(".log"):
                shutil.copy(os.path.join(self.dir, name), self._pytest_dir)
        assert not reports, "sanitizer reports:\n" + "\n".join(reports)


def _children(proc):
    """Apache's children: they serve requests (the parent stays root to manage them)."""
    if not proc or proc.poll() is not None:
        return []
    out = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _apache_fcgid(*args, **kw):
    return ApacheStack(*args, starter="fcgid", **kw)


def _apache_spawn_fcgi(*args, **kw):
    return ApacheStack(*args, starter="spawn-fcgi", **kw)


# Every FastCGI deployment the README documents, by name ("apache": the systemd socket unit
# with kw-api --workers N).
SERVERS = {"lighttpd": LighttpdStack, "apache": ApacheStack, "apache-fcgid": _apache_fcgid,
           "apache-spawn-fcgi": _apache_spawn_fcgi}


def Stack(*args, **kw):
    """The stack the suite runs against: KW_SERVER names one of SERVERS or CGI_SERVERS
    (default lighttpd), so that `make check` walks the same tests through every documented
    deployment."""
    name = os.environ.get("KW_SERVER", "lighttpd")
    servers = dict(SERVERS, **CGI_SERVERS)
    if name not in servers:
        raise ValueError("KW_SERVER=%s: expected one of %s" % (name, ", ".join(servers)))
    return servers[name](*args, **kw)


# Variables of the test process that the CGI programs (and mod_fcgid's workers) must see: the
# web servers pass them only what they are told to (other FastCGI workers inherit them).
CGI_PASS_ENV = ("KW_TEST_CLOCK_FILE",)


class _CgiStack(LighttpdStack):
    """kw-api as a plain CGI program: one process per request, as on a shared host. Files
    live in a world-readable directory of its own (a root-run web server executes CGI
    programs as www-data); worker_pids() is empty since no process outlives its request. The
    web server also terminates TLS on tls_port, as the host's server in front would."""

    persistent = False

    def __init__(self, directory, settings=None, workers=2, wait=True):
        import shutil
        LighttpdStack.__init__(self, directory, settings, workers, wait)
        own = self.root = os.path.dirname(self.dir)
        self.www = os.path.join(own, "www")
        shutil.copytree(os.path.join(TOP, "deploy", "www"), self.www, dirs_exist_ok=True)
        # Renamed into place: a CGI process of an earlier stack may still be running it.
        shutil.copy(os.path.join(BUILD, "kw-api"), os.path.join(self.www, ".kw-api.cgi.new"))
        os.replace(os.path.join(self.www, ".kw-api.cgi.new"), os.path.join(self.www, "kw-api.cgi"))
        os.chmod(self.dir, 0o755)
        self.errorlog = os.path.join(own, "server-error.log")

    def _state_dir(self):
        return os.path.join(own_dir(self._pytest_dir, "kw-cgi-"), "state")

    def _cgi_env(self):
        """What the web server must set for the CGI program beside KW_ENV_FILE."""
        env = sanitizer_env(self.dir)
        env.update({k: os.environ[k] for k in CGI_PASS_ENV if os.environ.get(k)})
        return env

    def worker_pids(self):
        return []

    def stop(self):
        import shutil
        self._stop_server()
        reports = sanitizer_reports(self.dir)
        if os.path.exists(self.errorlog):
            shutil.copy(self.errorlog, self._pytest_dir)
        # The directory stays (with the database) until the session ends: see _CGI_ROOTS.
        assert not reports, "sanitizer reports:\n" + "\n".join(reports)


class ApacheCgiStack(_CgiStack):
    """Apache with mod_cgid and mod_rewrite, configured only through
    deploy/shared-host/htaccess.example placed in the web root (AllowOverride All), as a
    shared host offers it."""

    def server_pids(self):
        return _children(self.proc)

    def start(self):
        write_env_file(self.env_file, self.settings)
        with open(os.path.join(TOP, "deploy", "shared-host", "htaccess.example")) as f:
            ht = f.read().replace("/home/USER/kalshiwhale/kalshiwhale.env", self.env_file)
        ht += "".join("SetEnv %s %s\n" % kv for kv in self._cgi_env().items())
        with open(os.path.join(self.www, ".htaccess"), "w") as f:
            f.write(ht)
        self._own_state()
        mods = "/usr/lib/apache2/modules"
        lines = ["ServerRoot /etc/apache2", "PidFile %s/apache.pid" % self.root,
                 "ErrorLog %s" % self.errorlog, "LogLevel warn",
                 "TypesConfig /etc/mime.types", "DirectoryIndex index.html",
                 "ServerTokens Prod", "ServerSignature Off",
                 "ScriptSock %s/cgid.sock" % self.root]
        lines += ["LoadModule %s_module %s/mod_%s.so" % (m, mods, m)
                  for m in ("mpm_event", "authz_core", "mime", "dir", "rewrite", "env", "cgid",
                            "headers", "ssl", "socache_shmcb")]
        if run_ids():
            lines += ["User " + RUN_USER, "Group " + RUN_USER]
        pem = self._tls_pem()
        lines += ["Listen 127.0.0.1:%d" % self.port, "DocumentRoot %s" % self.www,
                  "<Directory %s>" % self.www, "    AllowOverride All",
                  "    Options FollowSymLinks", "    Require all granted", "</Directory>",
                  "Listen 127.0.0.1:%d" % self.tls_port,
                  "<VirtualHost 127.0.0.1:%d>" % self.tls_port, "    SSLEngine on",
                  "    SSLCertificateFile %s.crt" % pem, "    SSLCertificateKeyFile %s.key" % pem,
                  "</VirtualHost>"]
        conf = os.path.join(self.root, "httpd.conf")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        return self._launch(["apache2", "-DFOREGROUND", "-f", conf])


class LighttpdCgiStack(_CgiStack):
    """lighttpd's mod_cgi running kw-api.cgi per request, configured by
    deploy/shared-host/lighttpd-cgi.conf.example."""

    def start(self):
        write_env_file(self.env_file, self.settings)
        with open(os.path.join(TOP, "deploy", "shared-host", "lighttpd-cgi.conf.example")) as f:
            frag = f.read().replace("/home/USER/kalshiwhale/kalshiwhale.env", self.env_file)
        extra = "".join(', "%s" => "%s"' % kv for kv in self._cgi_env().items())
        frag = frag.replace('"KW_ENV_FILE" => "%s" )' % self.env_file,
                            '"KW_ENV_FILE" => "%s"%s )' % (self.env_file, extra))
        with open(os.path.join(self.root, "kw-cgi.conf"), "w") as f:
            f.write(frag)
        pem = self._tls_pem()
        self._own_state()
        conf = os.path.join(self.root, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write('server.document-root = "%s"\nserver.bind = "127.0.0.1"\n'
                    'server.port = %d\nserver.errorlog = "%s"\nserver.tag = ""\n'
                    'index-file.names = ( "index.html" )\n'
                    'mimetype.assign = ( ".html" => "text/html" )\n'
                    'server.modules += ( "mod_openssl" )\n'
                    '$SERVER["socket"] == "127.0.0.1:%d" {\n'
                    '  ssl.engine = "enable"\n  ssl.pemfile = "%s"\n}\n'
                    'include "%s/kw-cgi.conf"\n' % (self.www, self.port, self.errorlog,
                                                     self.tls_port, pem, self.root))
            if run_ids():  # as a host runs CGI programs: never as root
                f.write('server.username = "%s"\nserver.groupname = "%s"\n'
                        % (RUN_USER, RUN_USER))
        return self._launch(["lighttpd", "-D", "-f", conf])


CGI_SERVERS = {"apache-cgi": ApacheCgiStack, "lighttpd-cgi": LighttpdCgiStack}
