"""The README's configuration table and .env.example are generated from the settings table
in lib/config.c (`make docs`); this fails when someone adds a setting and forgets them. And the
comments and docs stand on their own: they cite only files in this repository."""
import os
import re
import subprocess

from kwstack import BUILD, TOP


def admin(*args):
    return subprocess.run([os.path.join(BUILD, "kw-admin")] + list(args), check=True,
                          capture_output=True, text=True).stdout


def test_readme_config_table_is_current():
    readme = open(os.path.join(TOP, "README.md")).read()
    m = re.search(r"<!-- kw:config:begin -->\n(.*?)<!-- kw:config:end -->", readme, re.S)
    assert m, "README lacks the kw:config markers"
    assert m.group(1) == admin("config", "doc"), "run `make docs`"


def test_env_example_is_current_and_loads():
    text = open(os.path.join(TOP, ".env.example")).read()
    assert admin("config", "env") in text, "run `make docs`"
    # The template itself is a valid configuration.
    env = {"PATH": os.environ["PATH"], "KW_ENV_FILE": os.path.join(TOP, ".env.example")}
    r = subprocess.run([os.path.join(BUILD, "kw-admin"), "config", "check"], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def repo_text_files():
    """The checkout's own text files (what a clone has), fixtures quoted from elsewhere aside."""
    r = subprocess.run(["git", "-C", TOP, "ls-files", "--cached", "--others",
                        "--exclude-standard"], capture_output=True, text=True)
    names = r.stdout.split() if r.returncode == 0 else [
        os.path.relpath(os.path.join(d, f), TOP) for d, _, fs in os.walk(TOP)
        if "/build" not in d and "/.git" not in d for f in fs]
    for name in names:
        if name.startswith(("tests/fixtures/", "deploy/sample/run")) or \
                not os.path.isfile(os.path.join(TOP, name)):
            continue
        try:
            with open(os.path.join(TOP, name), encoding="utf-8") as f:
                yield name, f.read()
        except UnicodeDecodeError:
            continue


def test_comments_and_docs_cite_only_this_repository():
    """A user's clone is all there is: no pointer to reference files beside the checkout or to
    an issue tracker's numbers, and every docs/ page named somewhere exists."""
    outside = re.compile(r"\.\./shared|platform[- ]notes|\bissues? #?\d+|kalshi-api\.md|"
                         r"(?<!docs/)\bORIGINAL\.md|(?<![\w/])original\.md|STYLE\.md", re.I)
    bad = []
    for name, text in repo_text_files():
        if name == "tests/integration/test_docs.py":
            continue  # the pattern above
        for n, line in enumerate(text.splitlines(), 1):
            if outside.search(line):
                bad.append("%s:%d: %s" % (name, n, line.strip()[:80]))
            for doc in re.findall(r"\bdocs/([A-Za-z_-]+\.md)", line):
                if not os.path.exists(os.path.join(TOP, "docs", doc)):
                    bad.append("%s:%d: docs/%s does not exist" % (name, n, doc))
    assert not bad, "\n".join(bad)


def test_docs_name_files_that_exist():
    """docs/ describes the code by its files (ARCHITECTURE.md above all): each path it names
    in backquotes is one a clone has, so the map cannot silently go stale."""
    path = re.compile(r"`((?:lib|fcgi|fetch|ws|admin|tests|sql|deploy|bench|tools|docs)/"
                      r"[\w./-]+)`")
    missing = []
    for name in sorted(os.listdir(os.path.join(TOP, "docs"))):
        with open(os.path.join(TOP, "docs", name), encoding="utf-8") as f:
            for p in path.findall(f.read()):
                if not os.path.exists(os.path.join(TOP, p.rstrip("/"))):
                    missing.append("docs/%s: %s" % (name, p))
    assert not missing, "\n".join(missing)
