#!/usr/bin/env bash
# The main job, end to end: a broker, two hosts, one pool shared by both.
# Host 0 writes a dataset through its extents; host 1 reads it through its
# own extents, at different DPAs, assembled by shared_seq.
#
# The same flow as examples/demo.sh with dcd-hostsim processes as the hosts
# (no QEMU needed).
#
# usage: examples/demo-hostsim.sh [BUILD_DIR]
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
broker=$build/dcd-broker/dcd-broker
dcdctl=$build/tools/dcdctl/dcdctl
hostsim=$build/tools/dcd-hostsim/dcd-hostsim
# shellcheck source=examples/lib.sh
. "$here/examples/lib.sh"
need "$broker" "$dcdctl" "$hostsim"

# A host runs in the background; we talk to it through two FIFOs.
start_host() { # id fd_in fd_out [args...]
	local id=$1 fin=$2 fout=$3
	shift 3
	start_piped "$id" "$fin" "$fout" "$work/host$id.log" \
		"$hostsim" --socket "$work/host.sock" --host-id "$id" --name "vm$id" "$@"
}
host() { ask host "$@"; } # fd_in fd_out command...

start_broker

step "Starting two hosts: host 0 and host 1, each with a 4 GiB sharable DC region"
start_host 0 5 6 --region 0:4G:2M
start_host 1 7 8 --region 0:4G:2M
host 5 6 wait-connected 5000 >/dev/null
host 7 8 wait-connected 5000 >/dev/null
ctl host list

step "Creating a 64 MiB memfd pool (sealed against shrink and grow)"
tag=5be13bce-ae34-4a77-b6c3-16df975fcf1a
ctl pool create --size 64M --tag "$tag"

step "Host 1 already uses its first 16 MiB, so its DPAs will differ from host 0's"
other=$(new_pool 16M)
ctl extent add --host 1 --tag "$other" --policy contiguous --wait

step "Giving the pool to host 0 as three extents (prescriptive), then sharing it with host 1"
ctl extent add --host 0 --tag "$tag" --policy prescriptive \
	--extent 0:16M --extent 64M:32M --extent 256M:16M --wait
ctl extent add --host 1 --tag "$tag" --policy enable-shared-access --wait
ctl extent list --tag "$tag"

step "Host 0 writes a dataset through its extents"
host 5 6 write-str "$tag" 0 "shared dataset v1: hello from host 0" >/dev/null
host 5 6 fill "$tag" 16777216 33554432 171 >/dev/null
sum0=$(host 5 6 checksum "$tag" 0 67108864)
echo "host 0 wrote 64 MiB; sha256 $sum0"

step "Host 1 reads the same bytes through its own DPAs"
echo "host 1 reads: \"$(host 7 8 read-str "$tag" 0 36)\""
sum1=$(host 7 8 checksum "$tag" 0 67108864)
echo "host 1 sha256 $sum1"
if [ "$sum0" != "$sum1" ]; then
	die "the hosts disagree"
fi
echo "identical: every byte host 0 wrote, host 1 reads"

step "Releasing the pool from both hosts, then destroying it"
ctl extent release --host 0 --tag "$tag" --wait
ctl extent release --host 1 --tag "$tag" --wait
ctl pool destroy "$tag"
ctl pool list

step "Done; stopping the hosts and the broker"
