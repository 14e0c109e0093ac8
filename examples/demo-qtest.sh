#!/usr/bin/env bash
# The main job under qtest: a broker and two VMs, one pool shared by both,
# with dcd-host playing each guest (make demo runs real Linux guests).
#
# Each VM is the patched QEMU (qemu/README.md) with a cxl-type3 Dynamic
# Capacity Device attached to dcd-broker.  No guest OS runs: QEMU starts
# under -accel qtest and build/examples/vm-demo plays the guest's DCD
# driver with dcd-host (DC event log, Add DC Response 4802h, Release DC
# 4803h, HDM decoders, loads and stores through the CXL fixed memory
# window).  VM 0 writes a dataset through its window; VM 1 reads it
# through its own window, at other DPAs, assembled by shared_seq.
#
# usage: examples/demo-qtest.sh [BUILD_DIR]  (make demo-qtest)
# QEMU: $DCD_QEMU, else qemu/build/qemu-system-x86_64 (qemu/build.sh).
# examples/demo-hostsim.sh is the same flow with simulated hosts.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
broker=$build/dcd-broker/dcd-broker
dcdctl=$build/tools/dcdctl/dcdctl
vmdemo=$build/examples/vm-demo
qemu=${DCD_QEMU:-$here/qemu/build/qemu-system-x86_64}
# shellcheck source=examples/lib.sh
. "$here/examples/lib.sh"
need "$broker" "$dcdctl" "$vmdemo"
[ -x "$qemu" ] || {
	echo "demo: no QEMU at $qemu; run 'make qemu' (qemu/build.sh) or set DCD_QEMU" >&2
	exit 1
}

# A VM runs in the background; we talk to its guest side through two FIFOs.
start_vm() { # id fd_in fd_out
	local id=$1 fin=$2 fout=$3 reply
	start_piped "$id" "$fin" "$fout" "$work/vm$id.log" \
		"$vmdemo" --qemu "$qemu" --socket "$work/host.sock" --host-id "$id"
	read -r reply <&"$fout" || true
	[ "$reply" = "ok ready" ] || { cat "$work/vm$id.log" >&2; die "VM $id did not start"; }
}
vm() { ask VM "$@"; } # fd_in fd_out command...
# extent add --wait returns once the guest answered: run it in the
# background while the VM's guest side accepts the Add Capacity event.
add_accepted() { # fd_in fd_out dcdctl-args...
	local fin=$1 fout=$2 pid
	shift 2
	echo "\$ dcdctl $*"
	"$dcdctl" --socket "$work/control.sock" "$@" >"$work/add.out" 2>&1 &
	pid=$!
	echo "guest accepts (4802h): $(vm "$fin" "$fout" accept)"
	wait "$pid" || { cat "$work/add.out" >&2; die "extent add failed"; }
	cat "$work/add.out"
}
released() { # fd_in fd_out
	echo "guest releases (4803h): $(vm "$1" "$2" release)"
}
query() { # fd_in fd_out: what the device reports, one extent a line
	vm "$1" "$2" query | sed 's/^/  /; s/, /\n  /g'
}
wait_connected() { # count
	for _ in $(seq 100); do
		"$dcdctl" --socket "$work/control.sock" status | grep -q "($1 connected)" && return
		sleep 0.1
	done
	die "the VMs did not connect to the broker"
}

start_broker

step "Starting two VMs (QEMU $("$qemu" --version | sed -n '1s/.*version //p')): host 0 and host 1, each a cxl-type3 with a 1 GiB sharable DC region"
echo "-chardev socket,id=brk,path=$work/host.sock,reconnect-ms=500"
echo "-device cxl-type3,...,dc-regions-total-size=1G,dc-regions-sharable=1,dcd-broker=brk,dcd-host-id=N"
start_vm 0 5 6
start_vm 1 7 8
wait_connected 2
ctl host list

step "Creating a 64 MiB memfd pool (sealed against shrink and grow)"
tag=5be13bce-ae34-4a77-b6c3-16df975fcf1a
ctl pool create --size 64M --tag "$tag"

step "VM 1 already uses its first 16 MiB, so its DPAs will differ from VM 0's"
other=$(new_pool 16M)
add_accepted 7 8 extent add --host 1 --tag "$other" --policy contiguous --wait

step "Giving the pool to VM 0 as three extents (prescriptive), then sharing it with VM 1"
add_accepted 5 6 extent add --host 0 --tag "$tag" --policy prescriptive \
	--extent 0:16M --extent 64M:32M --extent 256M:16M --wait
add_accepted 7 8 extent add --host 1 --tag "$tag" --policy enable-shared-access --wait
ctl extent list --tag "$tag"
echo "VM 0's device (cxl-query-dynamic-capacity):"
query 5 6
echo "VM 1's device (cxl-query-dynamic-capacity):"
query 7 8

step "VM 0 writes a dataset through its CXL window"
vm 5 6 write-str "$tag" 0 "shared dataset v1: hello from VM 0" >/dev/null
vm 5 6 fill "$tag" 16M 32M 171 >/dev/null
sum0=$(vm 5 6 checksum "$tag" 0 64M)
echo "VM 0 wrote 64 MiB; sha256 $sum0"

step "VM 1 reads the same bytes through its own window and DPAs"
echo "VM 1 reads: \"$(vm 7 8 read-str "$tag" 0 34)\""
sum1=$(vm 7 8 checksum "$tag" 0 64M)
echo "VM 1 sha256 $sum1"
if [ "$sum0" != "$sum1" ]; then
	die "the VMs disagree"
fi
echo "identical: every byte VM 0 wrote, VM 1 reads"

step "Releasing the pool from both VMs, then destroying it"
# --wait returns once the guest has answered (4803h) and the device told
# the broker; meanwhile the guest's driver is asked to take the event.
ctl extent release --host 0 --tag "$tag" --wait &
released 5 6
wait $!
ctl extent release --host 1 --tag "$tag" --wait &
released 7 8
wait $!
ctl pool destroy "$tag"
ctl pool list

step "Done; stopping the VMs and the broker"
vm 5 6 quit >/dev/null
vm 7 8 quit >/dev/null
