"""The README's configuration table and .env.example are generated from the settings table
in lib/config.c (`make docs`); this fails when someone adds a setting and forgets them."""
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
