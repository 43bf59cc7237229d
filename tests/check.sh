#!/usr/bin/env bash
# check.sh — what `make check` runs: every stage below, in order, each counted; a failed stage
# does not stop the later ones (a CI log should show everything that is broken at once). It
# ends with one summary line, "check: N passed, M failed", and exits non-zero if M > 0.
#
# Stages: format check; build (gcc, then clang); the web servers' own syntax check of both
# example configs; unit tests; integration tests through the real lighttpd with four accept
# threads in every kw-api worker (KW_TEST_THREADS=4; the default of two runs in the Apache and
# sanitized passes), then through Apache, then the API and security tests with kw-api as a CGI
# program, then the lighttpd suite again on a throwaway PostgreSQL cluster; the
# Debian package; short fuzz runs; then the unit and integration tests again, built
# with AddressSanitizer + UndefinedBehaviorSanitizer (lighttpd only: the code under test is the
# same whichever server is in front); then ThreadSanitizer: the unit tests, and the modules
# that drive the most requests through many threads at once (make integration-threads) with
# four threads per worker.
set -u
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
JOBS=${JOBS:-2}
passed=0
failed=0
failures=()

# Each stage's output also goes to build/check-logs/<n>.log, so that the end of the run can
# repeat the lines that name what failed (a CI log is often read from its tail).
logdir=build/check-logs
rm -rf "$logdir"
mkdir -p "$logdir"
failed_logs=()

stage() {
	local name=$1
	shift
	local log
	log=$logdir/$((passed + failed + 1)).log
	echo "==== check: $name"
	local t0=$SECONDS
	"$@" 2>&1 | tee "$log"
	if [ "${PIPESTATUS[0]}" -eq 0 ]; then
		passed=$((passed + 1))
		echo "==== check: $name passed ($((SECONDS - t0)) s)"
	else
		failed=$((failed + 1))
		failures+=("$name")
		failed_logs+=("$name|$log")
		echo "==== check: $name FAILED ($((SECONDS - t0)) s)"
	fi
}

stage "format" $MAKE --no-print-directory format-check
stage "build" $MAKE --no-print-directory -j"$JOBS" all
stage "build with clang" $MAKE --no-print-directory -j"$JOBS" CC=clang BUILD=build-clang all
stage "example configs" $MAKE --no-print-directory conf-check
stage "unit tests" $MAKE --no-print-directory -j"$JOBS" unit
stage "integration tests (lighttpd, 4 threads per worker)" env KW_TEST_THREADS=4 \
	$MAKE --no-print-directory integration
stage "integration tests (Apache)" $MAKE --no-print-directory integration-apache
stage "integration tests (CGI)" $MAKE --no-print-directory integration-cgi
stage "integration tests (PostgreSQL)" $MAKE --no-print-directory integration-pg
# The Debian package: built, checked by lintian, then installed, served, upgraded and purged
# in a throwaway root (tests/package). It needs the packaging tools and root (mount, chroot).
# In CI (CI=true, as root, after deploy/install-deps.sh) the stage always runs: a missing tool
# there is a failure, not a quiet skip.
if command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null &&
	command -v lintian >/dev/null && [ "$(id -u)" -eq 0 ]; then
	stage "Debian package" $MAKE --no-print-directory package-check
elif [ "${CI:-}" = "true" ]; then
	stage "Debian package (tools or root missing)" false
else
	echo "==== check: Debian package NOT RUN: it needs root and dpkg-dev, debhelper, lintian"
fi
if grep -q '^fuzz-check:' Makefile; then
	stage "fuzz (short)" $MAKE --no-print-directory fuzz-check
fi
stage "sanitized build" $MAKE --no-print-directory -j"$JOBS" SANITIZE=address,undefined all
stage "sanitized unit tests" $MAKE --no-print-directory -j"$JOBS" SANITIZE=address,undefined unit
stage "sanitized integration tests" env KW_SANITIZE=1 \
	$MAKE --no-print-directory SANITIZE=address,undefined integration
stage "thread-sanitized build" $MAKE --no-print-directory -j"$JOBS" SANITIZE=thread all
stage "thread-sanitized unit tests" $MAKE --no-print-directory -j"$JOBS" SANITIZE=thread unit
stage "thread-sanitized integration tests (4 threads per worker)" env KW_SANITIZE=1 \
	KW_TEST_THREADS=4 $MAKE --no-print-directory SANITIZE=thread integration-threads

# What failed, again: pytest's summary lines, compiler errors, make's own, then each failed
# stage's last lines when none of those matched.
for entry in "${failed_logs[@]}"; do
	name=${entry%%|*}
	log=${entry#*|}
	echo "==== check: what failed in: $name ($log)"
	lines=$(grep -E '^(FAILED|ERROR) |: error:|\*\*\* |^Traceback|Assertion' "$log" | head -40)
	if [ -n "$lines" ]; then
		echo "$lines"
	else
		tail -n 30 "$log"
	fi
done
# Tests that failed once and passed when run again (tests/pytest-once-more.sh), stage by stage.
grep -h '^==== check: FLAKY' "$logdir"/*.log 2>/dev/null || true
if [ "$failed" -gt 0 ]; then
	echo "failed stages: ${failures[*]}"
fi
echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
