#!/usr/bin/env bash
# Beyond one machine: two brokers, as on two servers attached to one CXL
# device, keep their state in etcd; a real Linux guest on each shares one
# dataset.
#
# The servers are played on this machine: each broker has its own sockets
# and node name, and one regular file stands for the device both servers
# see (a device-dax device on real ones).  A device pool made on node a
# is known on node b through etcd's watch; the guest on b gets the tag
# from its own broker, and node b has node a's broker release a's guest's
# extents.  Both guests print SHA-256 from inside.
#
# usage: examples/demo-cluster.sh [BUILD_DIR]   (make demo-cluster)
# QEMU: $DCD_QEMU, else qemu/build/qemu-system-x86_64; etcd from Debian.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
broker=$build/dcd-broker/dcd-broker
dcdctl=$build/tools/dcdctl/dcdctl
t0=$(date +%s)
# shellcheck source=examples/lib.sh
. "$here/examples/lib.sh"
need_guests
command -v etcd >/dev/null || die "no etcd; run 'scripts/install-deps.sh --cluster'"

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# dcdctl against node a or b.
ctl_on() { # node args...
	local n=$1
	shift
	echo "\$ dcdctl (node $n) $*"
	"$dcdctl" --socket "$work/$n/control.sock" "$@"
}

step "Starting etcd (one member; a real cluster has three or five)"
client=$(free_port)
peer=$(free_port)
while [ "$peer" = "$client" ]; do peer=$(free_port); done
etcd --name demo --data-dir "$work/etcd" \
	--listen-client-urls "http://127.0.0.1:$client" \
	--advertise-client-urls "http://127.0.0.1:$client" \
	--listen-peer-urls "http://127.0.0.1:$peer" \
	--initial-advertise-peer-urls "http://127.0.0.1:$peer" \
	--initial-cluster "demo=http://127.0.0.1:$peer" \
	--max-txn-ops 2048 >"$work/etcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
	ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$client" endpoint health \
		>/dev/null 2>&1 && break
	sleep 0.1
done
ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$client" endpoint health ||
	{ cat "$work/etcd.log" >&2; die "etcd did not start"; }

step "One 256 MiB file stands for the CXL device both servers see"
truncate -s 256M "$work/device"
ls -l "$work/device"

for n in a b; do
	step "Starting dcd-broker on node $n: its state in etcd, its pools carved from the device"
	mkdir -p "$work/$n"
	mkfifo "$work/$n/out"
	"$broker" --cluster-store "etcd://127.0.0.1:$client" --node "$n" \
		--shared-device "$work/device" \
		--host-socket "$work/$n/host.sock" \
		--control-socket "$work/$n/control.sock" \
		>"$work/$n/out" 2>"$work/$n/broker.log" &
	pids+=($!)
	read -r ready <"$work/$n/out" || { cat "$work/$n/broker.log" >&2; die "broker $n did not start"; }
	echo "$ready"
done
ctl_on b node list

# A VM on node n's broker, trusting the device's pools (file pools).
start_vm() { # id node fd_in fd_out
	start_vm_on "$1" "$work/$2/host.sock" "$3" "$4" "VM $1 (node $2)" \
		--file-pools
}

step "Booting a Linux guest ($(cat "$rig/kernel.txt")) on each node, under TCG"
echo "each: -device cxl-type3,...,dcd-broker=brk,dcd-host-id=N,dcd-broker-file-pools=on"
start_vm 0 a 5 6
start_vm 1 b 7 8
wait_ready 0 6
wait_ready 1 8
ctl_on a host list

step "Node a carves a 64 MiB pool out of the device; node b knows it through etcd"
tag=8d3f0b7e-1c2a-4e59-9b6d-5f4a3c2b1a09
ctl_on a pool create --size 64M --tag "$tag"
ctl_on a extent add --host 0 --tag "$tag" --policy free --wait
for _ in $(seq 100); do
	"$dcdctl" --socket "$work/b/control.sock" --json pool list |
		grep -q '"shared-seq"' && break
	sleep 0.1
done
ctl_on b pool list

step "Node b gives the same tag to its own guest, at DPAs of its own"
ctl_on b extent add --host 1 --tag "$tag" --policy enable-shared-access --wait
ctl_on b extent list

step "VM 0 (node a) writes a 64 MiB dataset into the tag"
in_vm 0 5 6 "dd if=/dev/urandom bs=1M count=64 2>/dev/null | dcd-guest write $tag"
in_vm 0 5 6 "echo 'one dataset, two servers: hello from node a' | dcd-guest write $tag"
sum0=$(vm_out 5 6 dcd-guest sha256 "$tag" | cut -c1-64)
echo "VM 0 sha256: $sum0"

step "VM 1 (node b) reads it through its own device, window and DPAs"
in_vm 1 7 8 "dcd-guest read $tag --length 44; echo"
sum1=$(vm_out 7 8 dcd-guest sha256 "$tag" | cut -c1-64)
echo "VM 1 sha256: $sum1"
[ "$sum0" = "$sum1" ] || die "the guests disagree"
echo "identical: every byte VM 0 wrote on node a, VM 1 reads on node b"

step "Node b releases both (node a's broker carries out VM 0's), then destroys the pool"
ctl_on b extent release --host 0 --tag "$tag" --wait
ctl_on b extent release --host 1 --tag "$tag" --wait
for _ in $(seq 100); do
	"$dcdctl" --socket "$work/b/control.sock" pool destroy "$tag" 2>/dev/null && break
	sleep 0.1
done
ctl_on a pool list

step "Done in $(($(date +%s) - t0)) s; powering the guests off"
exec 5>&- 7>&-
wait "${pids[@]:3}" 2>/dev/null || true
