#!/usr/bin/env bash
# install-deps.sh — install every Debian package that building, testing, benchmarking and
# `make run` need, and nothing that is already there.
#
# Run as root it calls apt-get; run as anyone else it prints the one command to run and exits 1.
# `--check` only reports (exit 0 when nothing is missing, 1 otherwise), which is how the Makefile
# decides whether to call it. Debian 12 (bookworm) package names.
set -eu

PKGS=(
  # build
  gcc clang make pkg-config clang-format
  libfcgi-dev libjson-c-dev libcurl4-openssl-dev libsqlite3-dev libpq-dev libwebsockets-dev
  libssl-dev libjwt-dev libmaxminddb-dev libcmocka-dev libclang-rt-14-dev
  # run: web servers, FastCGI spawner, database shell
  lighttpd lighttpd-mod-openssl apache2 libapache2-mod-fcgid spawn-fcgi sqlite3 openssl curl ca-certificates
  # install and operate: man pages from --help, unit and logrotate checks
  help2man systemd logrotate procps
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

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  [ "${1:-}" = "--check" ] || echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
if [ "${1:-}" = "--check" ]; then
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
