#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench/run.sh BUILD_DIR [dcd-bench options] - run the broker benchmark
# against the build's own dcd-broker, print the table and write
# broker.json; then, when the build's QEMU (-Dqemu) is there, vm-add
# (vm-add.json), and with the guest rig guest-access and guest-add in
# real guests; then draw them (bench/plot.sh).  Results go to
# $BENCH_OUT, default BUILD_DIR/bench-results: the committed ones in
# bench/results change only on purpose (make bench-save).
set -eu

build=${1:?usage: bench/run.sh BUILD_DIR [dcd-bench options]}
shift
here=$(cd "$(dirname "$0")" && pwd)

ninja -C "$build" bench/dcd-bench bench/vm-add bench/guest-access \
    bench/guest-add bench/guest-boot dcd-broker/dcd-broker >/dev/null
out=${BENCH_OUT:-$build/bench-results}
mkdir -p "$out"
"$build/bench/dcd-bench" --broker="$build/dcd-broker/dcd-broker" \
    --output="$out/broker.json" "$@"
echo
if "$build/bench/vm-add" --probe; then
    "$build/bench/vm-add" --broker="$build/dcd-broker/dcd-broker" \
        --output="$out/vm-add.json"
else
    echo "vm-add: skipped, no QEMU (build it with qemu/build.sh, or meson -Dqemu=PATH)"
fi
# Real guests: the rig must be fetched (make guest) and QEMU built.
rig=${DCD_GUEST_RIG:-$here/../guest/cache}
if "$build/bench/vm-add" --probe && [ -f "$rig/vmlinuz" ]; then
    ninja -C "$build" guest/initramfs.cpio.gz >/dev/null
    echo
    "$build/bench/guest-access" --output="$out/guest-access.json"
    echo
    "$build/bench/guest-add" --output="$out/guest-add.json"
    echo
    echo "guest-add again with the agents polling every 1 ms:"
    "$build/bench/guest-add" --poll-ms=1 --output="$out/guest-add-1ms.json"
    echo
    echo "guest-boot: guests booted on a busy machine, without and with the"
    echo "kernel's timer check (a failed boot is a result here, not an error):"
    "$build/bench/guest-boot" --output="$out/guest-boot.json" || true
    "$build/bench/guest-boot" --timer-check \
        --output="$out/guest-boot-timer-check.json" || true
else
    echo "guest-access, guest-add: skipped, no QEMU or no guest rig (make guest)"
fi
"$here/plot.sh" "$out"
echo "bench: results in $out (make bench-save to keep them)"
