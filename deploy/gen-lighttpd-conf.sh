#!/bin/sh
# gen-lighttpd-conf.sh EXAMPLE OUT [NAME=VALUE]... — derive a runnable lighttpd config from
# lighttpd.conf.example: each NAME=VALUE replaces the example's `var.NAME = ...` line (VALUE is
# written as given, so quote strings: kw_port=8000, kw_bin='"/path"'), and lines marked
# [production] are dropped. An unknown NAME is an error, so the example and its users stay
# in step. kw_user and kw_group become "" (lighttpd stays the user that starts it) unless
# given: a run from a checkout keeps its files as the invoking user even when that is root;
# the tests pass them when they run as root. Used by `make run`, the tests and the benchmark.
set -eu
example=$1 out=$2
shift 2
cp "$example" "$out.tmp"
sed -i -e 's|^var\.kw_user *=.*|var.kw_user = ""|' -e 's|^var\.kw_group *=.*|var.kw_group = ""|' \
	"$out.tmp"
for kv in "$@"; do
	name=${kv%%=*}
	value=${kv#*=}
	grep -q "^var\.$name *=" "$out.tmp" || { echo "gen-lighttpd-conf: no var.$name in $example" >&2; exit 1; }
	esc=$(printf '%s' "$value" | sed -e 's/[\\&|]/\\&/g')
	sed -i "s|^var\.$name *=.*|var.$name = $esc|" "$out.tmp"
done
sed -i '/# \[production\]/d' "$out.tmp"
mv "$out.tmp" "$out"
