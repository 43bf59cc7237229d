"""`make check` from any checkout: a copy of this checkout in a private directory (mode 0700,
as root's home is) builds, and its own tests start every web server, the kw-api workers and
kw-ws from there and get answers. Run as root (as in CI), those processes run as RUN_USER, who
cannot enter the directory: the harness must hand them copies they can reach (kwstack.run_bin,
run_www) rather than paths into the checkout."""
import os
import shutil
import subprocess

from kwstack import TOP, run_ids


def copy_checkout(dest):
    """Copy the files a clone of this checkout has (tracked and new ones, not build output)."""
    r = subprocess.run(["git", "-C", TOP, "ls-files", "-z", "--cached", "--others",
                        "--exclude-standard"], capture_output=True)
    if r.returncode != 0:  # not a git checkout (an unpacked tarball): everything but builds
        shutil.copytree(TOP, dest, ignore=shutil.ignore_patterns("build*", ".git"))
        return
    for name in r.stdout.decode().split("\0"):
        if name and os.path.isfile(os.path.join(TOP, name)):
            os.makedirs(os.path.join(dest, os.path.dirname(name)), exist_ok=True)
            shutil.copy2(os.path.join(TOP, name), os.path.join(dest, name))


def test_a_checkout_in_a_private_directory_runs_its_stack_tests(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    os.chmod(home, 0o700)
    checkout = home / "kalshiwhale"
    copy_checkout(checkout)
    # The plain build, whatever make this suite runs under (the sanitized pass's SANITIZE=
    # reaches child makes through MAKEFLAGS and would build into build-san instead).
    make_env = {k: v for k, v in os.environ.items()
                if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "SANITIZE", "BUILD")}
    build = subprocess.run(["make", "--no-print-directory", "-C", str(checkout), "-j2", "all"],
                           env=make_env, capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stderr[-2000:]
    if run_ids():  # the point of the test: RUN_USER cannot even look inside
        probe = subprocess.run(["test", "-x", str(checkout / "build" / "kw-api")],
                               user=run_ids()[0], group=run_ids()[1], extra_groups=[])
        assert probe.returncode != 0
    env = {k: v for k, v in make_env.items()
           if k not in ("KW_BUILD", "KW_SERVER", "KW_SANITIZE", "KW_ENV_FILE")}
    env["KW_BUILD"] = str(checkout / "build")
    r = subprocess.run(["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "tests/integration/test_servers.py", "tests/integration/test_cgi.py"],
                       cwd=checkout, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "PermissionError" not in r.stdout
