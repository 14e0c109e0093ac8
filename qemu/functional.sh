#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# qemu/functional.sh - run the series' functional test
# (tests/functional/x86_64/test_cxl_dcd.py in qemu/src) against the QEMU
# that qemu/build.sh built, offline: its assets (the Debian kernel and
# busybox packages, named by URL and SHA-256 in the test) are taken from
# the guest rig's cache (guest/cache/debs, `make guest`), never
# downloaded.  Prints the test's TAP.
#
# Usage: qemu/functional.sh [QEMU_BINARY]
set -euo pipefail

QDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$QDIR/src
TEST=$SRC/tests/functional/x86_64/test_cxl_dcd.py
QEMU=${1:-$QDIR/build/qemu-system-x86_64}
RIG=${DCD_GUEST_CACHE:-$QDIR/../guest/cache}
DEBS=$RIG/debs
CACHE=$QDIR/cache/functional

die() { echo "qemu-functional: error: $*" >&2; exit 1; }

[ -f "$TEST" ] || die "$TEST missing; run qemu/build.sh first"
[ -x "$QEMU" ] || die "no QEMU at $QEMU; run qemu/build.sh first"
[ -d "$DEBS" ] || die "no guest rig cache in $DEBS; run make guest first"

# QEMU's test framework finds an asset in its cache by its SHA-256
mkdir -p "$CACHE/download"
for deb in "$DEBS"/*.deb; do
	sum=$(sha256sum "$deb" | cut -d' ' -f1)
	[ -f "$CACHE/download/$sum" ] ||
		ln "$deb" "$CACHE/download/$sum" 2>/dev/null ||
		cp "$deb" "$CACHE/download/$sum"
done

# Our build has no option ROMs (the +ds source has no blobs): -kernel
# needs linuxboot_dma.bin, which the rig has with SeaBIOS
[ -f "$RIG/firmware/linuxboot_dma.bin" ] ||
	die "no firmware in $RIG/firmware; run make guest first"
mkdir -p "$CACHE/bin"
cat >"$CACHE/bin/qemu-system-x86_64" <<EOS
#!/bin/sh
exec "$(cd "$(dirname "$QEMU")" && pwd)/$(basename "$QEMU")" -L "$(cd "$RIG/firmware" && pwd)" "\$@"
EOS
chmod +x "$CACHE/bin/qemu-system-x86_64"

export QEMU_TEST_CACHE_DIR=$CACHE QEMU_TEST_NO_DOWNLOAD=1
export QEMU_TEST_QEMU_BINARY=$CACHE/bin/qemu-system-x86_64
export QEMU_BUILD_ROOT=$QDIR/build
export PYTHONPATH=$SRC/python:$SRC/tests/functional:$QDIR/pyshim
# Its assets are all here: a skip (an asset missing) is a failure
set -o pipefail
python3 "$TEST" | sed -u 's/^ok \([0-9]* [^#]*\)# SKIP/not ok \1# skipped:/'
