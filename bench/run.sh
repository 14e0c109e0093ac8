#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench/run.sh BUILD_DIR [dcd-bench options] - run the broker benchmark
# against the build's own dcd-broker, print the table and write
# bench/results/broker.json.
set -eu

build=${1:?usage: bench/run.sh BUILD_DIR [dcd-bench options]}
shift
here=$(cd "$(dirname "$0")" && pwd)

ninja -C "$build" bench/dcd-bench dcd-broker/dcd-broker >/dev/null
mkdir -p "$here/results"
exec "$build/bench/dcd-bench" --broker="$build/dcd-broker/dcd-broker" \
    --output="$here/results/broker.json" "$@"
