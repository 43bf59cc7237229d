"""pgcluster — a throwaway PostgreSQL cluster for one test session (KW_TEST_DB=postgres).

initdb into a fresh directory under /tmp, a server on a free port of 127.0.0.1 with its unix
socket in that directory, trust authentication, and durability switched off (fsync,
synchronous_commit, full_page_writes): nothing in it outlives the session, and a crash of the
server process alone loses nothing the OS already holds. Run as root, initdb and the server run
as the `postgres` account (initdb refuses root); otherwise as the invoking user.

The harness (kwstack) asks for one database per stack or per test with create_database(): a
fresh database owned by the role ROLE, which is no superuser, so the programs under test get
what a deployment grants them and no more. They connect over TCP (they run as www-data under
root, and the socket directory is the server's own), the harness's superuser connection over
the socket. stop() stops the server by its data directory (pg_ctl -m immediate; SIGKILL of the
postmaster's PID if that fails) and removes the directory.

Not here: replication, TLS, passwords; the system cluster that Debian's package creates is
never touched.
"""
import glob
import os
import shutil
import socket
import subprocess
import tempfile

ROLE = "kw"  # owns every test database; LOGIN, no SUPERUSER, no CREATEDB
SUPERUSER = "postgres"


def _bindir():
    """The newest installed server's programs (Debian: /usr/lib/postgresql/N/bin)."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if found:
        found.sort(key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
        return os.path.dirname(found[-1])
    path = shutil.which("initdb")
    if not path:
        raise RuntimeError("KW_TEST_DB=postgres needs PostgreSQL's server programs (initdb):"
                           " install the Debian package postgresql")
    return os.path.dirname(path)


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """One server: start() it, create_database() as often as needed, stop() it once."""

    def __init__(self):
        self.dir = None
        self.port = None
        self.pid = None
        self.bindir = _bindir()

    @property
    def data(self):
        return os.path.join(self.dir, "data")

    @property
    def log_path(self):
        return os.path.join(self.dir, "server.log")

    def _as_owner(self, argv):
        """argv run as the cluster's owner: `postgres` under root, else the invoking user."""
        if os.geteuid() == 0:
            return ["runuser", "-u", SUPERUSER, "--"] + argv
        return argv

    def _run(self, argv):
        r = subprocess.run(self._as_owner(argv), capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("%s failed (%d):\n%s%s%s" % (
                os.path.basename(argv[0]), r.returncode, r.stdout, r.stderr, self.log()))
        return r

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except (FileNotFoundError, TypeError):
            return ""

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="kw-pg-", dir="/tmp")
        if os.geteuid() == 0:
            import pwd
            pw = pwd.getpwnam(SUPERUSER)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o700)
        try:
            self._run([os.path.join(self.bindir, "initdb"), "-D", self.data, "-A", "trust",
                       "-U", SUPERUSER, "-E", "UTF8", "--locale=C", "--no-sync"])
            self.port = _free_port()
            self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-l",
                       self.log_path, "-w", "-t", "30", "-o", self._options(), "start"])
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                self.pid = int(f.readline())
            with self.admin() as c:
                c.cursor().execute("CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
                                   % ROLE)
        except Exception:
            self.stop()
            raise
        return self

    def _options(self):
        """The server's options: this cluster's port and socket directory, on 127.0.0.1 only."""
        return ("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off"
                " -c synchronous_commit=off -c full_page_writes=off"
                " -c max_connections=300" % (self.port, self.dir))

    def stop_server(self):
        """Stop the server (fast: sessions are ended) and keep its data, as for a restart."""
        self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", "fast", "-w",
                   "stop"])
        self.pid = None

    def start_server(self):
        """Start the server stopped by stop_server() again, on the same port and data."""
        self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-l", self.log_path,
                   "-w", "-t", "30", "-o", self._options(), "start"])
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            self.pid = int(f.readline())

    def admin(self):
        """A superuser connection (autocommit) over the cluster's socket."""
        import psycopg2
        c = psycopg2.connect(host=self.dir, port=self.port, user=SUPERUSER, dbname="postgres")
        c.autocommit = True
        return _Closing(c)

    def url(self, name):
        """The DATABASE_URL that the programs use for database name: TCP, role ROLE."""
        return "postgresql://%s@127.0.0.1:%d/%s" % (ROLE, self.port, name)

    def create_database(self):
        """A fresh, empty database owned by ROLE; returns its name."""
        name = "kw_" + os.urandom(8).hex()
        with self.admin() as c:
            c.cursor().execute("CREATE DATABASE %s OWNER %s" % (name, ROLE))
        return name

    def drop_database(self, name):
        """Drop database name, ending the sessions still connected to it."""
        if self.pid is None:
            return
        with self.admin() as c:
            c.cursor().execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)

    def stop(self):
        if self.dir is None:
            return
        if self.pid is not None:
            r = subprocess.run(self._as_owner([os.path.join(self.bindir, "pg_ctl"), "-D",
                                               self.data, "-m", "immediate", "-w", "stop"]),
                               capture_output=True, text=True, timeout=60)
            if r.returncode != 0 and os.path.exists("/proc/%d" % self.pid):
                os.kill(self.pid, 9)
            self.pid = None
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None


class _Closing:
    """A connection that a with-block closes (psycopg2's own only ends a transaction)."""

    def __init__(self, conn):
        self.conn = conn

    def cursor(self):
        return self.conn.cursor()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.conn.close()


_SESSION = []


def cluster():
    """The session's cluster, started on first use and stopped when the process exits (the
    suite's conftest stops it at the end of the session)."""
    if not _SESSION:
        import atexit
        c = Cluster().start()
        atexit.register(c.stop)
        _SESSION.append(c)
    return _SESSION[0]


def stop():
    """Stop the session's cluster, if one was started."""
    while _SESSION:
        _SESSION.pop().stop()
