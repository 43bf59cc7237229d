#!/bin/sh
# build-deb.sh OUTDIR — `make deb`: build the Debian package from a copy of this tree and
# leave kalshiwhale_VERSION_ARCH.deb (and the -dbgsym package, .buildinfo, .changes) in
# OUTDIR. dpkg-buildpackage cleans the tree it builds in (`make clean` removes build/) and
# writes its results into the parent directory, so it runs in OUTDIR/src, a copy of the
# files git knows about plus new ones it does not ignore: what a clean checkout holds, with
# the working tree's edits.
#
# DEB_BUILD_OPTIONS passes through (nocheck skips the unit tests during the build).
set -eu
out=$1
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
git rev-parse --git-dir >/dev/null 2>&1 || {
	echo "build-deb: not a git checkout; run 'dpkg-buildpackage -us -uc -b' in a clean tree" >&2
	exit 1
}
rm -rf "$out"
mkdir -p "$out/src"
git ls-files --cached --others --exclude-standard | while IFS= read -r f; do
	[ -e "$f" ] && printf '%s\n' "$f"
done | tar -cf - -T - | tar -xf - -C "$out/src"
cd "$out/src"
dpkg-buildpackage -us -uc -b
cd "$out"
version=$(dpkg-parsechangelog -l src/debian/changelog -S Version)
arch=$(dpkg-architecture -q DEB_HOST_ARCH)
deb="$out/kalshiwhale_${version}_${arch}.deb"
[ -f "$deb" ] || { echo "build-deb: $deb was not built" >&2; exit 1; }
echo "build-deb: $deb"
