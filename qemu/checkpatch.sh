#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# qemu/checkpatch.sh - run QEMU's scripts/checkpatch.pl on every patch of
# qemu/patches/series.  Fails unless the whole series has 0 errors and
# 0 warnings.  Needs qemu/src (run qemu/build.sh once first).
set -euo pipefail

QDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$QDIR/src
PATCHES=$QDIR/patches
CHECKPATCH=$SRC/scripts/checkpatch.pl

[ -x "$CHECKPATCH" ] || [ -f "$CHECKPATCH" ] ||
	{ echo "checkpatch: $CHECKPATCH missing; run qemu/build.sh first" >&2; exit 1; }

errors=0 warnings=0 n=0 bad=0
while read -r p; do
	p=${p%%#*}
	p=$(echo "$p" | tr -d '[:space:]')
	[ -n "$p" ] || continue
	n=$((n + 1))
	out=$(cd "$SRC" && perl "$CHECKPATCH" --no-tree "$PATCHES/$p" 2>&1) || true
	total=$(echo "$out" | grep -E '^total: [0-9]+ errors, [0-9]+ warnings' | tail -n1)
	if [ -z "$total" ]; then
		echo "$out"
		echo "checkpatch: $p: no summary line" >&2
		bad=$((bad + 1))
		continue
	fi
	e=$(echo "$total" | sed -E 's/^total: ([0-9]+) errors, ([0-9]+) warnings.*/\1/')
	w=$(echo "$total" | sed -E 's/^total: ([0-9]+) errors, ([0-9]+) warnings.*/\2/')
	errors=$((errors + e))
	warnings=$((warnings + w))
	if [ "$e" -ne 0 ] || [ "$w" -ne 0 ]; then
		echo "$out"
	fi
	echo "checkpatch: $p: $e errors, $w warnings"
done <"$PATCHES/series"

echo "checkpatch: $n patches, $errors errors, $warnings warnings"
[ "$errors" -eq 0 ] && [ "$warnings" -eq 0 ] && [ "$bad" -eq 0 ]
