"""`make install PREFIX= DESTDIR=` puts the programs, migrations, examples and the dashboard in
place, the installed kw-api serves behind lighttpd from there, and `make uninstall` removes
what install put there."""
import os
import subprocess

import requests

from kwstack import TOP, free_port


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
    env_file.write_text("DATABASE_PATH=%s/kw.db\n" % state)
    port = free_port()
    conf = state / "lighttpd.conf"
    q = lambda s: '"%s"' % s
    subprocess.run(["sh", os.path.join(TOP, "deploy", "gen-lighttpd-conf.sh"),
                    str(share / "examples" / "lighttpd.conf.example"), str(conf),
                    "kw_prefix=" + q(root), "kw_www=" + q(share / "www"),
                    "kw_state=" + q(state), "kw_log_dir=" + q(state),
                    "kw_env_file=" + q(env_file), "kw_host=" + q("127.0.0.1"),
                    "kw_port=%d" % port, "kw_tls_port=%d" % free_port(),
                    "kw_tls_pem=" + q(state / "none.pem")], check=True)
    # No certificate in this test: drop the TLS block, which the server would refuse.
    text = conf.read_text()
    conf.write_text(text[:text.index("# TLS on its own port")])
    proc = subprocess.Popen(["lighttpd", "-D", "-f", str(conf)], stderr=subprocess.DEVNULL)
    try:
        import time
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
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    r = make("uninstall", "PREFIX=/opt/kw", "DESTDIR=%s" % dest)
    assert r.returncode == 0, r.stderr
    assert not (root / "bin" / "kw-api").exists()
    assert not share.exists()
