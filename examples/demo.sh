#!/usr/bin/env bash
# The main job, end to end, on real VMs: a broker and two Linux guests
# sharing one dataset.
#
# Each VM is the patched QEMU (qemu/README.md) booting a stock Debian
# kernel under TCG (the guest rig, guest/README.md) with a cxl-type3
# Dynamic Capacity Device attached to dcd-broker.  In each guest,
# dcd-guest (docs/guest.md) is the DCD driver the kernel lacks: it
# commits the HDM decoders, answers the broker's offers from the DC event
# log and maps a tag for programs.  VM 0 writes a dataset into a shared
# tag; VM 1 reads it at other DPAs; both print SHA-256 from inside.
#
# usage: examples/demo.sh [BUILD_DIR]    (make demo fetches the rig first)
# QEMU: $DCD_QEMU, else qemu/build/qemu-system-x86_64 (qemu/build.sh).
# examples/demo-qtest.sh is the flow under qtest, demo-hostsim.sh without QEMU.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
broker=$build/dcd-broker/dcd-broker
dcdctl=$build/tools/dcdctl/dcdctl
t0=$(date +%s)
# shellcheck source=examples/lib.sh
. "$here/examples/lib.sh"
need_guests

start_vm() { # id fd_in fd_out
	start_vm_on "$1" "$work/host.sock" "$2" "$3" "VM $1"
}

start_broker

step "Booting two Linux guests ($(cat "$rig/kernel.txt")) under TCG, side by side"
echo "each: -machine q35,cxl=on ... -device cxl-type3,...,dc-regions-total-size=1G,dc-regions-sharable=1,dcd-broker=brk,dcd-host-id=N"
echo "      -kernel vmlinuz -append \"... modprobe.blacklist=cxl_acpi,cxl_pci,cxl_port,cxl_mem\""
start_vm 0 5 6
start_vm 1 7 8
wait_ready 0 6
wait_ready 1 8
ctl host list
in_vm 0 5 6 dcd-guest list

step "Creating a 64 MiB memfd pool (sealed against shrink and grow)"
tag=5be13bce-ae34-4a77-b6c3-16df975fcf1a
ctl pool create --size 64M --tag "$tag"

step "VM 1 already uses its first 16 MiB, so its DPAs will differ from VM 0's"
other=$(new_pool 16M)
ctl extent add --host 1 --tag "$other" --policy contiguous --wait

step "Giving the pool to VM 0 as three extents, then sharing it with VM 1 (each guest's agent accepts)"
ctl extent add --host 0 --tag "$tag" --policy prescriptive \
	--extent 0:16M --extent 64M:32M --extent 256M:16M --wait
ctl extent add --host 1 --tag "$tag" --policy enable-shared-access --wait
in_vm 0 5 6 dcd-guest list
in_vm 1 7 8 dcd-guest list

step "VM 0 writes a 64 MiB dataset into the tag, mapped in shared_seq order"
in_vm 0 5 6 "dd if=/dev/urandom bs=1M count=64 2>/dev/null | dcd-guest write $tag"
in_vm 0 5 6 "echo 'shared dataset v1: hello from VM 0' | dcd-guest write $tag"
sum0=$(vm_out 5 6 dcd-guest sha256 "$tag" | cut -c1-64)
echo "VM 0 sha256: $sum0"

step "VM 1 reads the same bytes through its own window and DPAs"
in_vm 1 7 8 "dcd-guest read $tag --length 34; echo"
sum1=$(vm_out 7 8 dcd-guest sha256 "$tag" | cut -c1-64)
echo "VM 1 sha256: $sum1"
[ "$sum0" = "$sum1" ] || die "the guests disagree"
echo "identical: every byte VM 0 wrote, VM 1 reads"

step "Releasing the pools from both guests, then destroying them"
ctl extent release --host 0 --tag "$tag" --wait
ctl extent release --host 1 --tag "$tag" --wait
ctl extent release --host 1 --tag "$other" --wait
in_vm 1 7 8 dcd-guest list
ctl pool destroy "$tag"
ctl pool destroy "$other"
ctl pool list

step "Done in $(($(date +%s) - t0)) s; powering the guests off"
exec 5>&- 7>&-
wait "${pids[@]:1}" 2>/dev/null || true
