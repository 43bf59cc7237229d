#!/usr/bin/env bash
# pytest-once-more.sh PYTHON PYTEST-ARGS... — run an integration suite; when a few of its
# tests fail, run those tests once more, alone, and say so.
#
# Why: the suites drive real servers, workers and clients on a two-core machine that other
# stages and programs share, and a handful of tests wait on real time (a rate limiter's
# refill, a worker's restart, a WebSocket delivery within a second). One of those missing its
# deadline under a load spike is not the product failing; failing the whole run for it would
# hide the stages that did pass. A test that fails twice fails the stage. A test that passes
# only the second time is printed as FLAKY on a line of its own, and `make check` repeats
# those lines at its end, so it is never silent.
#
# Not retried: more than MAX_RERUN failures (something is broken, not slow), collection or
# usage errors (pytest exit codes other than 1).
set -u
py=${1:?usage: pytest-once-more.sh PYTHON PYTEST-ARGS...}
shift
MAX_RERUN=${MAX_RERUN:-3}
log=$(mktemp /tmp/kw-pytest.XXXXXX)
trap 'rm -f "$log"' EXIT

"$py" -m pytest "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
[ "$rc" -eq 1 ] || exit "$rc"

# pytest's short summary: "FAILED tests/x.py::test_y[param] - message" (ERROR for a failed
# set-up). The node id is the second field.
mapfile -t ids < <(grep -E '^(FAILED|ERROR) ' "$log" | awk '{print $2}' | sort -u)
if [ "${#ids[@]}" -eq 0 ] || [ "${#ids[@]}" -gt "$MAX_RERUN" ]; then
	exit "$rc"
fi
echo "==== ${#ids[@]} test(s) failed; running them once more, alone: ${ids[*]}"
if "$py" -m pytest -q -p no:cacheprovider "${ids[@]}"; then
	for id in "${ids[@]}"; do
		echo "==== check: FLAKY (failed, then passed alone): $id"
	done
	exit 0
fi
exit 1
