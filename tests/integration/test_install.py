"""`make install PREFIX= DESTDIR=` puts the programs, migrations, examples and the dashboard in
place, the installed kw-api serves behind lighttpd from there, and `make uninstall` removes
what install put there."""
import os
import subprocess

import requests

from kwstack import TOP, db_settings, free_port


def make(*args):
    return subprocess.run(["make", "--no-print-directory", "-C", TOP] + list(args),
                          capture_output=True, text=True, timeout=600)


def test_install_run_uninstall(tmp_path):
    dest = tmp_path / "dest"
    r = make("install", "PREFIX=/opt/kw", "DESTDIR=%s" % dest)
    assert r.returncode == 0, r.stderr
    root = dest / "opt" / "kw"
    for prog in ("kw-api", "kw-fetch", "kw-ws", "kw-admin"):
        p = root / "bin" / prog
        assert os.access(p, os.X_OK)
        assert subprocess.run([p, "--version"], capture_output=True, text=True).stdout.startswith(prog)
    share = root / "share" / "kalshiwhale"
    assert (share / "sql" / "0001_init.sql").exists()
    assert (share / "www" / "index.html").exists()
    for ex in ("lighttpd.conf.example", "apache.conf.example", ".env.example"):
        assert (share / "examples" / ex).exists()

    # The installed layout runs: lighttpd from the installed example, installed binaries.
    state = tmp_path / "state"
    state.mkdir()
    env_file = state / "kw.env"
    ws_port = free_port()
    key = "kwtest_" + "5e6f" * 10
    env_file.write_text("".join("%s=%s\n" % kv for kv in db_settings(state / "kw.db").items())
                        + "API_KEY=%s\nWS_PORT=%d\n"
                        "KALSHI_API_BASE=http://127.0.0.1:%d/trade-api/v2\n"
                        "KALSHI_TIMEOUT_SECONDS=2\n" % (key, ws_port, free_port()))
    port = free_port()
    conf = state / "lighttpd.conf"
    q = lambda s: '"%s"' % s
    subprocess.run(["sh", os.path.join(TOP, "deploy", "gen-lighttpd-conf.sh"),
                    str(share / "examples" / "lighttpd.conf.example"), str(conf),
                    "kw_prefix=" + q(root), "kw_www=" + q(share / "www"),
                    "kw_state=" + q(state), "kw_log_dir=" + q(state),
                    "kw_env_file=" + q(env_file), "kw_host=" + q("127.0.0.1"),
                    "kw_port=%d" % port, "kw_tls_port=%d" % free_port(),
                    "kw_ws_port=%d" % ws_port, "kw_tls_pem=" + q(state / "none.pem")],
                   check=True)
    # No certificate in this test: drop the TLS block, which the server would refuse.
    text = conf.read_text()
    conf.write_text(text[:text.index("# TLS on its own port")])
    env = dict(os.environ, KW_ENV_FILE=str(env_file))
    proc = subprocess.Popen(["lighttpd", "-D", "-f", str(conf)], stderr=subprocess.DEVNULL)
    ws = subprocess.Popen([str(root / "bin" / "kw-ws")], env=env, stderr=subprocess.DEVNULL)
    try:
        import asyncio
        import json
        import time

        import websockets
        deadline = time.time() + 15
        while True:
            try:
                r = requests.get("http://127.0.0.1:%d/api/health" % port, timeout=2)
                if r.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.time() < deadline, (state / "lighttpd-error.log").read_text()
            time.sleep(0.1)
        page = requests.get("http://127.0.0.1:%d/" % port, timeout=5)
        assert page.status_code == 200 and "KalshiWhale" in page.text

        async def first_message():  # the installed kw-ws, through lighttpd's /ws forward
            for _ in range(50):
                try:
                    async with websockets.connect("ws://127.0.0.1:%d/ws" % port,
                                                  extra_headers={"X-API-Key": key}) as c:
                        return json.loads(await asyncio.wait_for(c.recv(), 5))
                except (OSError, websockets.exceptions.InvalidStatusCode):
                    await asyncio.sleep(0.1)
        assert asyncio.run(first_message())["type"] == "initial_data"
        # The installed kw-fetch runs and says Kalshi is unreachable (nothing listens there).
        f = subprocess.run([str(root / "bin" / "kw-fetch"), "--once"], env=env,
                           capture_output=True, text=True, timeout=120)
        assert f.returncode == 75, f.stderr
    finally:
        ws.terminate()
        assert ws.wait(timeout=10) == 0
        proc.terminate()
        proc.wait(timeout=10)

    r = make("uninstall", "PREFIX=/opt/kw", "DESTDIR=%s" % dest)
    assert r.returncode == 0, r.stderr
    assert not (root / "bin" / "kw-api").exists()
    assert not share.exists()


def test_installed_units_cron_logrotate_and_man_pages(tmp_path):
    import re
    dest = tmp_path / "dest"
    r = make("install", "PREFIX=/opt/kw", "SYSCONFDIR=/opt/kw/etc", "DESTDIR=%s" % dest)
    assert r.returncode == 0, r.stderr
    root = dest / "opt" / "kw"
    units = root / "lib" / "systemd" / "system"
    names = sorted(p.name for p in units.iterdir())
    assert names == ["kalshiwhale-api.service", "kalshiwhale-api.socket",
                     "kalshiwhale-fetch.service", "kalshiwhale-fetch.timer",
                     "kalshiwhale-ws.service"]
    for u in units.iterdir():
        assert "/usr/local" not in u.read_text(), u  # rewritten for PREFIX
    # systemd itself checks the units (keys, sections, executables), pointed at the binaries
    # as installed under DESTDIR.
    check = tmp_path / "units"
    check.mkdir()
    for u in units.iterdir():
        (check / u.name).write_text(u.read_text().replace("/opt/kw/bin", str(root / "bin")))
    v = subprocess.run(["systemd-analyze", "verify"] + sorted(str(p) for p in check.iterdir()),
                       capture_output=True, text=True)
    assert v.returncode == 0 and "Unknown" not in v.stderr, v.stderr
    cron = (root / "etc" / "cron.d" / "kalshiwhale").read_text()
    assert "/opt/kw/bin/kw-fetch --once" in cron
    lr = (root / "etc" / "logrotate.d" / "kalshiwhale").read_text()
    conf = tmp_path / "lr.conf"
    conf.write_text(lr.replace("su kalshiwhale kalshiwhale", "su root root"))
    v = subprocess.run(["logrotate", "-d", "-s", str(tmp_path / "lr.state"), str(conf)],
                       capture_output=True, text=True)
    assert v.returncode == 0, v.stderr
    # Man pages say what --help says: every option of every program is in its page.
    for prog in ("kw-api", "kw-fetch", "kw-ws", "kw-admin"):
        page = (root / "share" / "man" / "man1" / (prog + ".1")).read_text()
        text = page.replace("\\-", "-").replace("\\fB", "").replace("\\fR", "")
        helptext = subprocess.run([root / "bin" / prog, "--help"], capture_output=True,
                                  text=True).stdout
        for opt in set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", helptext)):
            assert opt in text, (prog, opt)
    r = make("uninstall", "PREFIX=/opt/kw", "SYSCONFDIR=/opt/kw/etc", "DESTDIR=%s" % dest)
    assert r.returncode == 0
    leftovers = [str(p) for p in root.rglob("*") if p.is_file()]
    assert leftovers == []


# ---- deploy/install-deps.sh, with apt-get, dpkg-query, systemctl and id replaced -------------

def _deps_run(tmp_path, missing, uid=0, args=()):
    """Run install-deps.sh as if the packages in missing were not installed. Returns the
    result and what apt-get and systemctl were asked to do (one call a line)."""
    shims = tmp_path / "bin"
    shims.mkdir(exist_ok=True)
    log = tmp_path / "calls.log"
    log.write_text("")
    (tmp_path / "systemd").mkdir(exist_ok=True)
    scripts = {
        "id": "[ \"$1\" = -u ] && echo %d || exec /usr/bin/id \"$@\"" % uid,
        # installed unless named in MISSING; the status format install-deps.sh asks for
        "dpkg-query": 'p="${@: -1}"; case " $MISSING " in *" $p "*) exit 1 ;; esac\n'
                      "printf 'install ok installed'",
        "apt-get": 'echo "apt-get $*" >>"$CALLS"',
        "systemctl": 'echo "systemctl $*" >>"$CALLS"',
    }
    for name, body in scripts.items():
        f = shims / name
        f.write_text("#!/bin/bash\n" + body + "\n")
        f.chmod(0o755)
    env = dict(os.environ, PATH="%s:%s" % (shims, os.environ["PATH"]), CALLS=str(log),
               MISSING=" ".join(missing), INSTALL_DEPS_SYSTEMD_DIR=str(tmp_path / "systemd"))
    r = subprocess.run(["bash", os.path.join(TOP, "deploy", "install-deps.sh")] + list(args),
                       env=env, capture_output=True, text=True, timeout=60)
    return r, log.read_text().splitlines()


def test_install_deps_stops_only_the_daemons_it_installed(tmp_path):
    """An admin who already runs Apache (or PostgreSQL) keeps it running: only a daemon that
    install-deps.sh itself just installed is stopped and disabled."""
    r, calls = _deps_run(tmp_path, ["lighttpd", "postgresql", "wrk"])
    assert r.returncode == 0, r.stderr
    assert "apt-get install -y -q --no-install-recommends lighttpd wrk postgresql" in calls
    assert [c for c in calls if c.startswith("systemctl")] == \
        ["systemctl disable --now lighttpd postgresql"]
    # Nothing that runs as a daemon was missing: no daemon is touched, Apache included.
    r, calls = _deps_run(tmp_path, ["wrk", "python3-pytest"])
    assert r.returncode == 0, r.stderr
    assert [c for c in calls if c.startswith("systemctl")] == []
    assert any(c.startswith("apt-get install") for c in calls)
    # Not root: the one command to run, and nothing run.
    r, calls = _deps_run(tmp_path, ["apache2"], uid=1000)
    assert r.returncode == 1
    assert "apt-get install -y --no-install-recommends apache2" in r.stderr
    assert calls == []
    # Nothing missing: nothing run.
    r, calls = _deps_run(tmp_path, [])
    assert r.returncode == 0 and calls == [] and "all" in r.stdout


def test_make_run_installs_only_what_running_needs(tmp_path):
    """`make run` on a machine that lacks both kinds of package installs the build and run
    packages, not the test tools, browsers and database server that `make check` needs."""
    missing = ["gcc", "libfcgi-dev", "lighttpd", "ca-certificates", "chromium", "postgresql",
               "python3-pytest", "apache2", "lintian"]
    r, calls = _deps_run(tmp_path, missing, args=["run"])
    assert r.returncode == 0, r.stderr
    assert "apt-get install -y -q --no-install-recommends gcc libfcgi-dev lighttpd" \
        " ca-certificates" in calls
    assert [c for c in calls if c.startswith("systemctl")] == ["systemctl disable --now lighttpd"]
    r, _ = _deps_run(tmp_path, missing, args=["--check", "run"])
    assert r.returncode == 1
    assert r.stderr.split("missing: ")[1].split() == ["gcc", "libfcgi-dev", "lighttpd",
                                                      "ca-certificates"]
    r, _ = _deps_run(tmp_path, missing, args=["--check"])
    assert r.returncode == 1 and len(r.stderr.split("missing: ")[1].split()) == len(missing)
    r, _ = _deps_run(tmp_path, [], args=["run", "--bogus"])
    assert r.returncode == 64 and "usage" in r.stderr
    # The Makefile's own targets: run and demo ask for the run set, check for everything.
    for target, want in (("run", "install-deps.sh --check run"),
                         ("demo", "install-deps.sh --check run"),
                         ("check", "install-deps.sh --check >")):
        dry = subprocess.run(["make", "--no-print-directory", "-n", "-C", TOP, target],
                             capture_output=True, text=True, timeout=60)
        assert want in dry.stdout, (target, dry.stdout[:300])
