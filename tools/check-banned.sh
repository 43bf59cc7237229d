#!/bin/sh
# check-banned.sh — fail if C code uses a function the house style bans (sprintf,
# strcpy, strcat, atoi, strtok, gets) or fcgi_stdio.h's printf remapping. Run by
# `make format-check`, so by `make check`.
set -eu
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find lib fcgi fetch ws admin tests bench -name '*.[ch]')
# Comments are not code: drop /* ... */ on one line and // ... before matching.
hits=$(for f in $files; do
	sed -e 's|/\*.*\*/||g' -e 's|//.*$||' "$f" |
		grep -nE '(^|[^a-z_])(sprintf|strcpy|strcat|atoi|strtok|gets)[[:space:]]*\(' |
		sed "s|^|$f:|"
done)
inc=$(grep -ln 'fcgi_stdio\.h' $files || true)
if [ -n "$hits$inc" ]; then
	echo "banned functions (use snprintf, kw_strlcpy, kw_buf_*, kw_parse_i64, strtok_r, FCGX_*):"
	[ -n "$hits" ] && echo "$hits"
	[ -n "$inc" ] && echo "$inc: includes fcgi_stdio.h"
	exit 1
fi
echo "check-banned: ok"
