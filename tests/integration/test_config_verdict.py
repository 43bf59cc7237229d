"""One verdict on settings: kw-api, kw-ws and kw-fetch refuse the same settings at start, and
`kw-admin config check` refuses them too, each with the same one line and exit status 78
(kw_config_verdict in lib/config.c decides for all four). Secrets are never echoed."""
import os
import subprocess

import pytest

from kwstack import BUILD, db_settings

SECRET = "v" * 40
GOOD_PROD = {"ENVIRONMENT": "production", "API_KEY": "kw_verdict_" + "k" * 32,
             "JWT_SECRET": SECRET, "ALLOWED_ORIGINS": "https://app.example.com"}

# How each program is asked for its verdict without doing its work.
PROGRAMS = {"kw-api": ["--check-config"], "kw-ws": ["--check-config"],
            "kw-fetch": ["--once"], "kw-admin": ["config", "check"]}


def run(prog, settings, tmp_path):
    env = dict(db_settings(tmp_path / "kw.db"), PATH=os.environ["PATH"])
    env.update({  # kw-fetch must not reach anything if the verdict let it through.
        "KALSHI_API_BASE": "http://127.0.0.1:9/trade-api/v2", "KALSHI_TIMEOUT_SECONDS": "1"})
    env.update(settings)
    return subprocess.run([os.path.join(BUILD, prog)] + PROGRAMS[prog], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("over,line", [
    ({"DEBUG": "true", "ALLOWED_ORIGINS": "*"},
     "config: DEBUG=true is refused with ENVIRONMENT=production"),
    ({"ALLOWED_ORIGINS": "*"},
     "config: ALLOWED_ORIGINS must list exact origins in production: * and null are refused"),
    ({"ALLOWED_ORIGINS": "https://app.example.com,null"},
     "config: ALLOWED_ORIGINS must list exact origins in production: * and null are refused"),
    ({"JWT_SECRET": "tiny-secret"},
     "config: JWT_SECRET is too short for production: at least 32 bytes"),
    ({"ENVIRONMENT": "development", "API_KEY": "tiny-key"},
     "config: API_KEY is too short: at least 32 characters"),
    ({"ENVIRONMENT": "development", "TRUSTED_PROXIES": "10.0.0.0/8, proxy.example"},
     "config: TRUSTED_PROXIES entry 2 is not an address or a CIDR range"),
    ({"ENVIRONMENT": "development", "WS_MAX_PER_IP": "50", "MAX_CONNECTIONS": "10"},
     "config: WS_MAX_PER_IP=50 is invalid: expected at most MAX_CONNECTIONS (10)"),
])
def test_every_program_gives_the_same_refusal(tmp_path, over, line):
    for prog in PROGRAMS:
        r = run(prog, dict(GOOD_PROD, **over), tmp_path)
        assert r.returncode == 78, (prog, r.stdout, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("%s: %s" % (prog, line)), (prog, r.stderr)
        assert r.stdout == ""  # config check prints no settings it refuses
        for secret in (SECRET, "tiny-secret", "tiny-key", GOOD_PROD["API_KEY"]):
            assert secret not in r.stderr


def test_config_check_accepts_what_the_programs_accept(tmp_path):
    r = run("kw-admin", GOOD_PROD, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "ENVIRONMENT=production" in r.stdout and SECRET not in r.stdout
    api = run("kw-api", GOOD_PROD, tmp_path)
    assert api.returncode == 0, api.stderr
