#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# qemu/series-check.sh - bisectability check of qemu/patches/series.
#
# Applies the series one patch at a time to a private clone of the
# upstream commit of qemu/src (qemu/cache/series-src) and, for every
# prefix (0 = upstream, 1 = first patch, ...), builds qemu-system-x86_64
# and the CXL qtests in qemu/cache/series-build, then runs the CXL qtests
# that exist at that prefix.  The build directory is kept between runs,
# so only the first run is a cold build.  Fails if any prefix does not
# apply, build or pass its qtests.  Needs qemu/src (run qemu/build.sh).
#
# Usage: qemu/series-check.sh [FIRST_PREFIX]   (default 0)
set -euo pipefail

QDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$QDIR/src
PATCHES=$QDIR/patches
CHECK_SRC=$QDIR/cache/series-src
CHECK_BUILD=$QDIR/cache/series-build
first=${1:-0}
QTESTS=(cxl-test cxl-dcd-mailbox-test cxl-dcd-test cxl-dcd-broker-test)

say() { echo "series-check: $*"; }
die() { echo "series-check: error: $*" >&2; exit 1; }

t_start=$(date +%s)
elapsed() { echo "$(($(date +%s) - t_start))s"; }

git -C "$SRC" rev-parse -q --verify upstream >/dev/null 2>&1 ||
	die "qemu/src has no 'upstream' tag; run qemu/build.sh first"

export GIT_AUTHOR_NAME="dcd-broker series-check"
export GIT_AUTHOR_EMAIL="build@dcd-broker.invalid"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"

if [ ! -d "$CHECK_SRC/.git" ]; then
	say "cloning qemu/src into qemu/cache/series-src"
	mkdir -p "$QDIR/cache"
	git clone -q --shared --no-checkout "$SRC" "$CHECK_SRC"
fi
git -C "$CHECK_SRC" fetch -q "$SRC" "refs/tags/upstream:refs/tags/upstream"
git -C "$CHECK_SRC" -c advice.detachedHead=false checkout -q -f --detach upstream
git -C "$CHECK_SRC" clean -q -fdx
mkdir -p "$CHECK_SRC/configs/meson"
cp "$QDIR/cxl-min.mak" "$CHECK_SRC/configs/devices/x86_64-softmmu/"
cp "$QDIR/meson-linux.txt" "$CHECK_SRC/configs/meson/linux.txt"

# Same configuration as qemu/build.sh, in a separate directory
if [ ! -f "$CHECK_BUILD/build.ninja" ]; then
	say "configuring qemu/cache/series-build ($(elapsed))"
	mkdir -p "$CHECK_BUILD"
	flags=$(sed -n '/^CONFIGURE_FLAGS=(/,/^)/p' "$QDIR/build.sh" | sed -e '1d;$d' -e "s/\$DEVCONF/cxl-min/")
	# shellcheck disable=SC2086
	(cd "$CHECK_BUILD" && eval PYTHONPATH="$QDIR/pyshim" \
		"$CHECK_SRC/configure" $flags) >"$CHECK_BUILD/.configure.log" 2>&1 ||
		{ tail -n 30 "$CHECK_BUILD/.configure.log"; die "configure failed"; }
fi
dd=$CHECK_BUILD/qemu-bundle/usr/local/share/qemu
mkdir -p "$dd"
for f in /usr/share/seabios/*.bin; do
	[ -e "$f" ] && [ ! -e "$dd/$(basename "$f")" ] && ln -s "$f" "$dd/"
done

mapfile -t series < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$PATCHES/series")

check_prefix() { # n
	local n=$1 t targets=(qemu-system-x86_64) run=() tp
	for t in "${QTESTS[@]}"; do
		if [ -f "$CHECK_SRC/tests/qtest/$t.c" ]; then
			targets+=("tests/qtest/$t")
			run+=("$t")
		fi
	done
	say "prefix $n: building ${targets[*]} ($(elapsed))"
	NINJA_STATUS="[%f/%t] " ninja -C "$CHECK_BUILD" "${targets[@]}" \
		>"$CHECK_BUILD/.ninja-$n.log" 2>&1 ||
		{ grep -E 'error|FAILED' "$CHECK_BUILD/.ninja-$n.log" | head -n 30
		  die "prefix $n does not build (log: $CHECK_BUILD/.ninja-$n.log)"; }
	for t in "${run[@]}"; do
		tp=$(cd "$CHECK_BUILD" && QTEST_QEMU_BINARY=./qemu-system-x86_64 \
			timeout 600 "tests/qtest/$t" --tap 2>&1) ||
			{ echo "$tp" | grep -v '^# starting' | tail -n 30
			  die "prefix $n: qtest $t failed"; }
		say "prefix $n: $t: $(echo "$tp" | grep -c '^ok ') passed," \
			"$(echo "$tp" | grep -c '^not ok ') failed"
	done
}

passed=0
for ((n = 0; n <= ${#series[@]}; n++)); do
	if [ "$n" -gt 0 ]; then
		git -C "$CHECK_SRC" am -q --keep-cr "$PATCHES/${series[n - 1]}" ||
			{ git -C "$CHECK_SRC" am --abort || true
			  die "patch ${series[n - 1]} does not apply"; }
	fi
	[ "$n" -lt "$first" ] && continue
	check_prefix "$n"
	passed=$((passed + 1))
done
say "$passed passed, 0 failed (prefixes $first..${#series[@]}, $(elapsed))"
