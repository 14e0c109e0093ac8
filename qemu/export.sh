#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# qemu/export.sh - regenerate qemu/patches/*.patch and qemu/patches/series
# from the commits upstream..HEAD in qemu/src (the editing tree that
# qemu/build.sh creates).  Refuses to run with uncommitted edits.
set -euo pipefail

QDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$QDIR/src
PATCHES=$QDIR/patches

die() { echo "qemu-export: error: $*" >&2; exit 1; }

[ -d "$SRC/.git" ] || die "qemu/src does not exist; run qemu/build.sh first"
git -C "$SRC" rev-parse -q --verify upstream >/dev/null ||
	die "qemu/src has no 'upstream' tag"
[ -z "$(git -C "$SRC" status --porcelain --untracked-files=no)" ] ||
	die "qemu/src has uncommitted changes; commit them first"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git -C "$SRC" format-patch -q --no-numbered --zero-commit --no-signature \
	--no-renames -o "$tmp" upstream..HEAD

mkdir -p "$PATCHES"
rm -f "$PATCHES"/*.patch
: >"$tmp/series"
for p in "$tmp"/*.patch; do
	[ -e "$p" ] || continue
	mv "$p" "$PATCHES/"
	basename "$p" >>"$tmp/series"
done
mv "$tmp/series" "$PATCHES/series"
git -C "$SRC" update-ref refs/dcd/applied HEAD
echo "qemu-export: $(wc -l <"$PATCHES/series") patch(es) written to qemu/patches"
