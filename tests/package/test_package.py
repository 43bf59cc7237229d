"""The Debian package, as an admin meets it: lintian, install, configure, serve behind
lighttpd, upgrade, remove, purge.

KW_DEB_DIR names the directory `make deb` built into. The package is installed with the real
dpkg into a throwaway root: an overlay whose lower layer is this machine's own / (read-only:
its libraries, adduser, lighttpd and Apache, and its dpkg database, against which dpkg checks
the package's Depends) and whose upper layer is a fresh directory that takes every write, with
its own /proc, /dev, /run and /tmp. Nothing reaches the host; the upper layer is what the
package changed, which is how the purge test finds leftovers. Needs root (mount, chroot).

There is no systemd in the root: the services are started the way systemd would start them,
from the installed unit files (the socket unit's socket, the service's User=, Environment=,
ExecStartPre= and ExecStart=), by Units below. The web server is the Debian lighttpd with
Debian's own lighttpd.conf and the package's conf-available file enabled by
lighty-enable-mod, on a free loopback port.

The tests run in file order and share the root: each step starts from the state the one
before left, as on a real server.
"""
import json
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import time
import urllib.error
import urllib.request

import pytest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEB_DIR = os.environ.get("KW_DEB_DIR", os.path.join(TOP, "build-deb"))
ENV_FILE = "/etc/kalshiwhale/kalshiwhale.env"
UPGRADE_VERSION_SUFFIX = "+pkgtest1"
CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
              "DEBIAN_FRONTEND": "noninteractive", "HOME": "/root"}


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kw_version():
    text = open(os.path.join(TOP, "lib", "version.h")).read()
    return re.search(r'#define KW_VERSION "([^"]+)"', text).group(1)


def package_path():
    arch = subprocess.run(["dpkg-architecture", "-q", "DEB_HOST_ARCH"], capture_output=True,
                          text=True, check=True).stdout.strip()
    version = subprocess.run(["dpkg-parsechangelog", "-l",
                              os.path.join(TOP, "debian", "changelog"), "-S", "Version"],
                             capture_output=True, text=True, check=True).stdout.strip()
    return os.path.join(DEB_DIR, "kalshiwhale_%s_%s.deb" % (version, arch)), version


class Root:
    """The overlay root: run commands in it, read its files, start and stop its services."""

    def __init__(self, base):
        self.base = base
        self.upper = os.path.join(base, "upper")
        self.path = os.path.join(base, "root")
        self.mounts = []
        self.procs = {}
        for d in (self.upper, os.path.join(base, "work"), self.path):
            os.makedirs(d)
        self._mount(["-t", "overlay", "overlay", "-o", "lowerdir=/,upperdir=%s,workdir=%s"
                     % (self.upper, os.path.join(base, "work"))], self.path)
        self._mount(["-t", "proc", "proc"], self.p("/proc"))
        self._mount(["--bind", "/dev"], self.p("/dev"))
        self._mount(["-t", "tmpfs", "-o", "mode=0755", "tmpfs"], self.p("/run"))
        self._mount(["-t", "tmpfs", "-o", "mode=1777", "tmpfs"], self.p("/tmp"))
        os.mkdir(self.p("/run/lock"))  # /var/lock, as at boot
        os.chmod(self.p("/run/lock"), 0o1777)

    def _mount(self, args, target):
        subprocess.run(["mount"] + args + [target], check=True)
        self.mounts.append(target)

    def p(self, path):
        """The host path of a path inside the root."""
        return os.path.join(self.path, path.lstrip("/"))

    def run(self, *cmd, check=True, **kw):
        r = subprocess.run(["chroot", self.path] + list(cmd), capture_output=True, text=True,
                           env=CHROOT_ENV, timeout=300, **kw)
        if check:
            assert r.returncode == 0, (cmd, r.stdout, r.stderr)
        return r

    def as_kalshiwhale(self, *cmd, check=True):
        return self.run("runuser", "-u", "kalshiwhale", "--", "env", "KW_ENV_FILE=" + ENV_FILE,
                        *cmd, check=check)

    def read(self, path):
        with open(self.p(path)) as f:
            return f.read()

    def user_ids(self, user):
        """(uid, gid) of an account in the root's /etc/passwd."""
        for line in self.read("/etc/passwd").splitlines():
            f = line.split(":")
            if f[0] == user:
                return int(f[2]), int(f[3])
        raise KeyError(user)

    def group_id(self, group):
        for line in self.read("/etc/group").splitlines():
            f = line.split(":")
            if f[0] == group:
                return int(f[2])
        raise KeyError(group)

    def start(self, name, cmd, **kw):
        self.procs[name] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.PIPE, **kw)
        return self.procs[name]

    def stop(self, name):
        proc = self.procs.pop(name, None)
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=15)
        finally:
            proc.stderr.close()

    def close(self):
        for name in list(self.procs):
            proc = self.procs[name]
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            proc.stderr.close()
            del self.procs[name]
        for target in reversed(self.mounts):
            if subprocess.run(["umount", target]).returncode != 0:
                subprocess.run(["umount", "-l", target])
        shutil.rmtree(self.base, ignore_errors=True)


def unit(root, name):
    """A unit file's [Section] Key=Value lines as {(section, key): [values]}."""
    out, section = {}, None
    for line in root.read("/lib/systemd/system/" + name).splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.setdefault((section, key.strip()), []).append(value.strip())
    return out


def start_api_from_units(root):
    """What `systemctl start kalshiwhale-api.socket` and the first connection do: the socket
    as the .socket unit describes it, then the .service's ExecStartPre and ExecStart as its
    User= with its Environment=, the listening socket on standard input."""
    sock_unit = unit(root, "kalshiwhale-api.socket")
    svc = unit(root, "kalshiwhale-api.service")
    path = sock_unit[("Socket", "ListenStream")][0]
    os.makedirs(root.p(os.path.dirname(path)),
                mode=int(sock_unit[("Socket", "DirectoryMode")][0], 8), exist_ok=True)
    if os.path.exists(root.p(path)):
        os.unlink(root.p(path))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(root.p(path))
    os.chown(root.p(path), root.user_ids(sock_unit[("Socket", "SocketUser")][0])[0],
             root.group_id(sock_unit[("Socket", "SocketGroup")][0]))
    os.chmod(root.p(path), int(sock_unit[("Socket", "SocketMode")][0], 8))
    listener.listen(int(sock_unit[("Socket", "Backlog")][0]))
    uid = root.user_ids(svc[("Service", "User")][0])[0]
    gid = root.group_id(svc[("Service", "Group")][0])
    env = dict(CHROOT_ENV)
    for assignment in svc[("Service", "Environment")]:
        k, _, v = assignment.partition("=")
        env[k] = v
    spec = ["chroot", "--userspec=%d:%d" % (uid, gid), "--groups=%d" % gid, root.path]
    for pre in svc.get(("Service", "ExecStartPre"), []):
        r = subprocess.run(spec + shlex.split(pre), env=env, capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0:
            listener.close()
            return r
    root.start("kw-api", spec + shlex.split(svc[("Service", "ExecStart")][0]), env=env,
               stdin=listener.fileno())
    listener.close()
    return None


def http(port, path, headers=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def wait_health(port, proc):
    deadline = time.time() + 20
    while True:
        try:
            status, _, body = http(port, "/api/health")
            if status == 200:
                return json.loads(body)
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        assert proc.poll() is None, proc.stderr.read().decode(errors="replace")
        assert time.time() < deadline, "no answer on /api/health"
        time.sleep(0.1)


def start_lighttpd(root, port):
    """Debian's lighttpd.conf as shipped, moved to a free loopback port (and IPv6 left out),
    with whatever conf-enabled holds."""
    conf = root.p("/etc/lighttpd/lighttpd.conf")
    text = open(conf).read()
    if "server.bind" not in text:
        text = re.sub(r"(?m)^server\.port\s*=.*$",
                      'server.port = %d\nserver.bind = "127.0.0.1"' % port, text)
        text = re.sub(r'(?m)^include_shell "/usr/share/lighttpd/use-ipv6.pl.*$', "", text)
        with open(conf, "w") as f:
            f.write(text)
    check = root.run("lighttpd", "-tt", "-f", "/etc/lighttpd/lighttpd.conf", check=False)
    assert check.returncode == 0, check.stderr
    return root.start("lighttpd", ["chroot", root.path, "lighttpd", "-D", "-f",
                                   "/etc/lighttpd/lighttpd.conf"], env=CHROOT_ENV)


@pytest.fixture(scope="module")
def deb():
    path, version = package_path()
    assert os.path.isfile(path), "build it first: make deb (%s)" % path
    return path, version


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("the package test needs root (mount, chroot, dpkg)")
    r = Root(str(tmp_path_factory.mktemp("pkgroot")))
    yield r
    r.close()


@pytest.fixture(scope="module")
def state():
    return {}


def test_version_follows_the_programs(deb):
    assert deb[1] == kw_version()


def test_lintian_reports_no_errors_or_warnings(deb):
    # Warnings that are there by design are overridden, with the reason, in
    # debian/kalshiwhale.lintian-overrides (and listed in the README).
    r = subprocess.run(["lintian", "--fail-on", "error,warning", "--display-info", deb[0]],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not re.search(r"(?m)^[EW]: ", r.stdout), r.stdout


def test_depends_are_the_runtime_libraries(deb, tmp_path):
    # Depends: the packages that hold the libraries the installed programs are linked with,
    # each once, plus adduser for postinst; the web server is only recommended.
    fields = subprocess.run(["dpkg-deb", "-f", deb[0], "Depends", "Recommends"],
                            capture_output=True, text=True, check=True).stdout
    depends = re.search(r"(?m)^Depends: (.*)$", fields).group(1)
    declared = {d.split()[0] for d in depends.split(", ")}
    subprocess.run(["dpkg-deb", "-x", deb[0], str(tmp_path)], check=True)
    sonames = set()
    for prog in ("kw-api", "kw-fetch", "kw-ws", "kw-admin"):
        out = subprocess.run(["objdump", "-p", str(tmp_path / "usr" / "bin" / prog)],
                             capture_output=True, text=True, check=True).stdout
        sonames |= set(re.findall(r"NEEDED\s+(\S+)", out))
    arch = subprocess.run(["dpkg-architecture", "-q", "DEB_HOST_ARCH"], capture_output=True,
                          text=True, check=True).stdout.strip()
    candidates = {}
    for line in subprocess.run(["ldconfig", "-p"], capture_output=True, text=True,
                               check=True).stdout.splitlines():
        m = re.match(r"\s*(\S+) \(.*\) => (\S+)$", line)
        if m:
            candidates.setdefault(m.group(1), []).append(m.group(2))
    owners = set()
    for so in sorted(sonames):
        found = None
        # dpkg knows a library by the path its package ships, which on a merged-/usr system
        # may be either side of the /lib -> /usr/lib link.
        for path in candidates[so] + [os.path.realpath(p) for p in candidates[so]]:
            r = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True)
            owner = r.stdout.partition(": ")[0]  # "libfcgi0ldbl:amd64"
            if r.returncode == 0 and owner.endswith(":" + arch):
                found = owner.split(":")[0]
                break
        assert found, so
        owners.add(found)
    assert declared == owners | {"adduser"}, (declared, owners)
    assert "lighttpd | apache2" in re.search(r"(?m)^Recommends: (.*)$", fields).group(1)


def test_install_creates_account_settings_and_directories(root, deb, state):
    shutil.copy(deb[0], root.p("/tmp/kalshiwhale.deb"))
    r = root.run("dpkg", "-i", "/tmp/kalshiwhale.deb")
    assert "nothing is started yet" in r.stdout
    uid, gid = root.user_ids("kalshiwhale")
    assert uid < 1000 and root.group_id("kalshiwhale") == gid
    passwd = [l for l in root.read("/etc/passwd").splitlines() if l.startswith("kalshiwhale:")]
    assert passwd[0].endswith(":/var/lib/kalshiwhale:/usr/sbin/nologin")

    st = os.stat(root.p(ENV_FILE))
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 0, gid)
    env = root.read(ENV_FILE)
    secret = re.search(r"(?m)^JWT_SECRET=(.*)$", env).group(1)
    assert len(secret) >= 64
    assert re.search(r"(?m)^ENVIRONMENT=production$", env)
    assert re.search(r"(?m)^DATABASE_PATH=/var/lib/kalshiwhale/kalshiwhale.db$", env)
    state["secret"] = secret
    for d in ("/var/lib/kalshiwhale", "/var/log/kalshiwhale"):
        st = os.stat(root.p(d))
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o750, uid, gid), d
    # postinst created the database as the account.
    st = os.stat(root.p("/var/lib/kalshiwhale/kalshiwhale.db"))
    assert st.st_uid == uid and not st.st_mode & 0o007
    assert "ok" in root.as_kalshiwhale("kw-admin", "db", "check").stdout

    for prog in ("kw-api", "kw-fetch", "kw-ws", "kw-admin"):
        assert root.run(prog, "--version").stdout.startswith(prog)
        assert os.path.isfile(root.p("/usr/share/man/man1/%s.1.gz" % prog))
    assert os.path.isfile(root.p("/usr/share/kalshiwhale/www/index.html"))
    conffiles = root.run("dpkg-query", "-W", "-f", "${Conffiles}", "kalshiwhale").stdout
    for f in ("/etc/cron.d/kalshiwhale", "/etc/logrotate.d/kalshiwhale",
              "/etc/lighttpd/conf-available/50-kalshiwhale.conf",
              "/etc/apache2/sites-available/kalshiwhale.conf"):
        assert f in conffiles, f
    # Nothing runs, nothing is enabled, no site is enabled, the cron job is off.
    for name in ("kalshiwhale-api.socket", "kalshiwhale-api.service",
                 "kalshiwhale-fetch.service", "kalshiwhale-fetch.timer",
                 "kalshiwhale-ws.service"):
        assert os.path.isfile(root.p("/lib/systemd/system/" + name))
    wants = subprocess.run(["find", root.p("/etc/systemd/system"), "-name", "kalshiwhale*"],
                           capture_output=True, text=True).stdout
    assert wants == ""
    assert not os.path.lexists(root.p("/etc/lighttpd/conf-enabled/50-kalshiwhale.conf"))
    assert not os.path.lexists(root.p("/etc/apache2/sites-enabled/kalshiwhale.conf"))
    cron_jobs = [l for l in root.read("/etc/cron.d/kalshiwhale").splitlines()
                 if "kw-fetch" in l and not l.startswith("#")]
    assert cron_jobs == []
    # The installed cron and logrotate files are valid as shipped.
    r = root.run("logrotate", "-d", "/etc/logrotate.d/kalshiwhale", check=False)
    assert r.returncode == 0 and "error" not in r.stderr.lower(), r.stderr


def test_unconfigured_api_refuses_to_start(root):
    # The safe default: production settings and no API key yet, so the unit's ExecStartPre
    # (kw-api --check-config) stops it with EX_CONFIG before anything is served.
    failed = start_api_from_units(root)
    assert failed is not None and failed.returncode == 78, failed
    assert "API" in failed.stderr or "key" in failed.stderr, failed.stderr


def test_configured_stack_serves_behind_lighttpd(root, state):
    # The admin's steps from the README: a key, an allowed origin, the units, the site.
    out = root.as_kalshiwhale("kw-admin", "key", "create", "--name", "admin", "--scope",
                              "admin").stdout
    state["key"] = re.search(r"\bkw_[A-Za-z0-9_-]{20,}", out).group(0)
    with open(root.p(ENV_FILE)) as f:
        text = f.read()
    with open(root.p(ENV_FILE), "w") as f:
        f.write(re.sub(r"(?m)^ALLOWED_ORIGINS=.*$", "ALLOWED_ORIGINS=https://kw.example.test",
                       text))
    state["env"] = root.read(ENV_FILE)
    # Cron instead of the timer: the admin turns the job on; dpkg must keep that edit.
    cron = root.read("/etc/cron.d/kalshiwhale").replace("#* * * * *", "* * * * *")
    with open(root.p("/etc/cron.d/kalshiwhale"), "w") as f:
        f.write(cron)
    state["cron"] = cron

    assert start_api_from_units(root) is None
    root.run("lighty-enable-mod", "kalshiwhale")
    port = state["port"] = free_port()
    lighttpd = start_lighttpd(root, port)
    assert wait_health(port, lighttpd) == {"status": "ok"}
    status, headers, body = http(port, "/api/status", {"X-API-Key": state["key"]})
    assert status == 200, body
    assert json.loads(body)["environment"] == "production"
    assert http(port, "/api/status")[0] == 401
    status, headers, body = http(port, "/")
    assert status == 200 and "KalshiWhale" in body
    assert "script-src 'self'" in headers.get("Content-Security-Policy", "")
    assert headers.get("Server", "") == ""
    # What lighttpd answers itself is in the product's JSON error shape.
    status, headers, body = http(port, "/no-such-page")
    assert status == 404 and headers["Content-Type"].startswith("application/json"), headers
    assert json.loads(body)["error"]["code"] == "not_found"

    # The Apache site as installed passes Apache's own check once enabled.
    root.run("a2enmod", "-q", "proxy", "proxy_fcgi", "proxy_wstunnel", "ssl", "headers",
             "setenvif", "macro")
    root.run("a2ensite", "-q", "kalshiwhale")
    os.makedirs(root.p("/etc/ssl/kalshiwhale"))
    root.run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=kw.example.test", "-keyout", "/etc/ssl/kalshiwhale/server.key",
             "-out", "/etc/ssl/kalshiwhale/server.crt")
    r = root.run("apache2ctl", "-t", check=False)
    assert r.returncode == 0 and "Syntax OK" in r.stderr, r.stderr


def test_upgrade_keeps_settings_and_data_and_migrates(root, deb, state):
    # A newer version of the same package: the same files under a higher version number.
    work = root.p("/tmp/upgrade")
    subprocess.run(["dpkg-deb", "-R", deb[0], work], check=True)
    control = os.path.join(work, "DEBIAN", "control")
    text = open(control).read()
    new_version = deb[1] + UPGRADE_VERSION_SUFFIX
    with open(control, "w") as f:
        f.write(re.sub(r"(?m)^Version: .*$", "Version: " + new_version, text))
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", work,
                    root.p("/tmp/kalshiwhale-new.deb")], check=True, capture_output=True)
    shutil.rmtree(work)
    # What the new package's preinst does through systemd: the running services stop.
    assert root.stop("kw-api") == 0
    # Meanwhile lighttpd answers for the workers, in the product's JSON shape with the
    # security headers.
    status, headers, body = http(state["port"], "/api/health")
    assert status == 503 and json.loads(body)["error"]["code"] == "service_unavailable"
    assert headers.get("X-Content-Type-Options") == "nosniff", headers
    root.stop("lighttpd")
    env_stat = os.stat(root.p(ENV_FILE))

    r = root.run("dpkg", "-i", "/tmp/kalshiwhale-new.deb")
    assert "is at schema version" in r.stdout  # kw-admin db migrate ran
    assert "created " + ENV_FILE not in r.stdout
    assert root.run("dpkg-query", "-W", "-f", "${Version} ${Status}",
                    "kalshiwhale").stdout == new_version + " install ok installed"
    assert root.read(ENV_FILE) == state["env"]
    st = os.stat(root.p(ENV_FILE))
    assert (st.st_mode, st.st_uid, st.st_gid) == (env_stat.st_mode, env_stat.st_uid,
                                                   env_stat.st_gid)
    assert root.read("/etc/cron.d/kalshiwhale") == state["cron"]
    assert not os.path.exists(root.p("/etc/cron.d/kalshiwhale.dpkg-dist"))
    # The key made before the upgrade still opens the API served by the new files.
    assert start_api_from_units(root) is None
    lighttpd = start_lighttpd(root, state["port"])
    assert wait_health(state["port"], lighttpd) == {"status": "ok"}
    assert http(state["port"], "/api/status", {"X-API-Key": state["key"]})[0] == 200
    root.stop("lighttpd")
    assert root.stop("kw-api") == 0


def test_remove_keeps_data_purge_deletes_it(root, state):
    db = root.p("/var/lib/kalshiwhale/kalshiwhale.db")
    r = root.run("dpkg", "-r", "kalshiwhale")
    assert "apt purge kalshiwhale" in r.stdout
    assert not os.path.exists(root.p("/usr/bin/kw-api"))
    assert root.read(ENV_FILE) == state["env"] and os.path.isfile(db)
    assert root.run("dpkg-query", "-W", "-f", "${Status}",
                    "kalshiwhale").stdout == "deinstall ok config-files"

    r = root.run("dpkg", "-P", "kalshiwhale")
    assert "purge: deleting" in r.stdout and "/var/lib/kalshiwhale" in r.stdout
    for path in ("/etc/kalshiwhale", "/var/lib/kalshiwhale", "/var/log/kalshiwhale",
                 "/usr/share/kalshiwhale", "/etc/cron.d/kalshiwhale",
                 "/etc/lighttpd/conf-enabled/50-kalshiwhale.conf",
                 "/etc/apache2/sites-enabled/kalshiwhale.conf"):
        assert not os.path.lexists(root.p(path)), path
    assert root.run("dpkg-query", "-W", "kalshiwhale", check=False).returncode != 0
    # Nothing the package made is left in the upper layer, apart from the account, which
    # stays by design (see the README), and the certificate this test made.
    left = []
    for dirpath, dirnames, filenames in os.walk(root.upper):
        for name in dirnames + filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), root.upper)
            if ("kalshiwhale" in rel or re.search(r"(^|/)kw-", rel)) and \
                    not rel.startswith("etc/ssl/kalshiwhale"):
                left.append(rel)
    assert left == []
    assert root.user_ids("kalshiwhale")[0] < 1000
    # The web servers start again without the package's sites.
    assert root.run("lighttpd", "-tt", "-f", "/etc/lighttpd/lighttpd.conf",
                    check=False).returncode == 0
