#!/usr/bin/env bash
# install-deps.sh [--check] [run] — install the Debian packages KalshiWhale needs, and nothing
# that is already there: with `run`, what building and `make run` / `make demo` need; without
# it, also everything testing, benchmarking and packaging need (`make check`, `.ci/run`).
#
# Run as root it calls apt-get; run as anyone else it prints the one command to run and exits 1.
# `--check` only reports (exit 0 when nothing is missing, 1 otherwise), which is how the Makefile
# decides whether to call it. Debian 12 (bookworm) package names.
set -eu

check=
only_run=
for arg in "$@"; do
  case "$arg" in
    --check) check=1 ;;
    run) only_run=1 ;;
    *) echo "usage: install-deps.sh [--check] [run]" >&2; exit 64 ;;
  esac
done

RUN_PKGS=(
  # build (gcc; the -dev packages the Makefile finds with pkg-config)
  gcc make pkg-config
  libfcgi-dev libjson-c-dev libcurl4-openssl-dev libsqlite3-dev libpq-dev libwebsockets-dev
  libssl-dev libjwt-dev libmaxminddb-dev
  # run: the web server with TLS, a self-signed certificate, HTTPS to Kalshi, the database shell
  lighttpd lighttpd-mod-openssl openssl curl ca-certificates sqlite3 procps
)
TEST_PKGS=(
  # build: the second compiler, the formatter, the unit test framework, the fuzzers' runtime
  clang clang-format libcmocka-dev libclang-rt-14-dev
  # the other deployments tested: Apache with mod_fcgid, spawn-fcgi
  apache2 libapache2-mod-fcgid spawn-fcgi
  # install and operate: man pages from --help, unit and logrotate checks
  help2man systemd logrotate
  # tests and benchmarks
  python3 python3-pytest python3-requests python3-websockets wrk bc time
  # the integration suite on PostgreSQL: a throwaway cluster (initdb, pg_ctl) and a client
  postgresql python3-psycopg2
  # the benchmark's FastAPI peer, as its users run it: uvicorn on uvloop and httptools
  python3-fastapi python3-uvicorn python3-uvloop python3-httptools
  # every answer a test receives is validated against the OpenAPI document
  python3-jsonschema
  # dashboard browser test, Prometheus exposition check
  chromium chromium-driver python3-selenium prometheus
  # the Debian package: build it (make deb) and check it (lintian, make package-check)
  # (dpkg-buildpackage insists on build-essential, which --no-install-recommends never pulls in)
  dpkg-dev debhelper lintian build-essential fakeroot
)
PKGS=("${RUN_PKGS[@]}")
[ -n "$only_run" ] || PKGS+=("${TEST_PKGS[@]}")

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  [ -n "$check" ] || echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
if [ -n "$check" ]; then
  echo "install-deps: missing: ${missing[*]}" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages; run as root:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
# Debian enables and starts a daemon with its package: a web server on port 80, a PostgreSQL
# cluster on 5432, Prometheus on 9090. KalshiWhale starts its own instances on free ports, so
# the ones installed just now are stopped and disabled. A daemon that was installed before is
# the admin's (their Apache, their database) and is left exactly as it was.
# INSTALL_DEPS_SYSTEMD_DIR: where systemd's runtime directory is looked for (tests).
daemons=()
for p in "${missing[@]}"; do
  case "$p" in
    lighttpd | apache2 | postgresql | prometheus) daemons+=("$p") ;;
  esac
done
if [ "${#daemons[@]}" -gt 0 ] && command -v systemctl >/dev/null 2>&1 &&
  [ -d "${INSTALL_DEPS_SYSTEMD_DIR:-/run/systemd/system}" ]; then
  echo "install-deps: stopping the daemons installed just now: ${daemons[*]}"
  systemctl disable --now "${daemons[@]}" >/dev/null 2>&1 || true
fi
