#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench/run.sh BUILD_DIR [dcd-bench options] - run the broker benchmark
# against the build's own dcd-broker, print the table and write
# bench/results/broker.json; then, when the build's QEMU (-Dqemu) is
# there, vm-add (bench/results/vm-add.json).
set -eu

build=${1:?usage: bench/run.sh BUILD_DIR [dcd-bench options]}
shift
here=$(cd "$(dirname "$0")" && pwd)

ninja -C "$build" bench/dcd-bench bench/vm-add dcd-broker/dcd-broker >/dev/null
mkdir -p "$here/results"
"$build/bench/dcd-bench" --broker="$build/dcd-broker/dcd-broker" \
    --output="$here/results/broker.json" "$@"
echo
if "$build/bench/vm-add" --probe; then
    "$build/bench/vm-add" --broker="$build/dcd-broker/dcd-broker" \
        --output="$here/results/vm-add.json"
else
    echo "vm-add: skipped, no QEMU (build it with qemu/build.sh, or meson -Dqemu=PATH)"
fi
