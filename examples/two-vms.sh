#!/usr/bin/env bash
# Two VMs of your own sharing one dcd-broker pool.
#
# What it does (with --run; without it, it only prints the commands):
#   1. starts dcd-broker with its sockets and state in $RUNTIME;
#   2. starts two patched QEMUs (qemu/README.md), each with the CXL
#      topology of the design brief (one pxb-cxl host bridge, one root
#      port, one cxl-type3 Dynamic Capacity Device with a 4 GiB sharable
#      DC region) whose device is a host of the broker: host 0 and host 1;
#   3. creates a 1 GiB pool and offers it to host 0 (free placement) and,
#      with enable-shared-access, to host 1.
#
# What the guests need.  The offers arrive in each guest as Dynamic
# Capacity Add events in the device's DC event log.  Only a guest driver
# that answers them (Add Dynamic Capacity Response, mailbox 4802h), sets
# up a CXL region with HDM decoders over the DC region, and orders the
# tag's extents by shared_seq can use the memory.  Upstream Linux has no
# such driver yet: its CXL DCD support is still under review, and tagged,
# shared extents are not part of it.  Until the guest answers, the extents
# stay "pending" at the broker (dcdctl extent list); if a VM goes away they
# are reclaimed.  dcd-host (dcd-host/, docs/dcd-host.md) shows what such a
# driver does, step by step; `make demo` runs it against two QEMUs.
#
# usage: examples/two-vms.sh [--run] [DISK0 DISK1]
#   DISKn     a bootable image for VM n (virtio); without one the VM stays
#             in the BIOS, which is enough to watch the broker side
# env: DCD_QEMU (default qemu/build/qemu-system-x86_64), BUILD (build),
#      RUNTIME (default /tmp/dcd-two-vms), ACCEL (kvm:tcg: KVM, else TCG), MEM (2G),
#      EXTRA (more QEMU arguments, e.g. "-L /usr/share/seabios")
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
run=false
if [ "${1:-}" = "--run" ]; then
	run=true
	shift
fi
disk0=${1:-}
disk1=${2:-}
build=${BUILD:-$here/build}
qemu=${DCD_QEMU:-$here/qemu/build/qemu-system-x86_64}
rt=${RUNTIME:-/tmp/dcd-two-vms}
accel=${ACCEL:-kvm:tcg}
mem=${MEM:-2G}
broker=$build/dcd-broker/dcd-broker
dcdctl=$build/tools/dcdctl/dcdctl
tag=5be13bce-ae34-4a77-b6c3-16df975fcf1a

accel_args=()
IFS=: read -ra accels <<<"$accel"
for a in "${accels[@]}"; do accel_args+=(-accel "$a"); done

show() { printf '%s\n' "$*"; }
# Print a command (quoting only what needs it); with --run, run it too.
do_() {
	local a
	printf '$'
	for a in "$@"; do
		if [[ $a =~ ^[A-Za-z0-9_./:=,+@%-]+$ ]]; then
			printf ' %s' "$a"
		else
			printf ' %q' "$a"
		fi
	done
	printf '\n'
	if $run; then "$@"; fi
}

# The QEMU command line of VM n.  Everything CXL is the design brief's
# topology; the last two lines attach the device to the broker.
vm_cmdline() { # n disk
	local n=$1 disk=$2
	cmd=("$qemu"
		-name "dcd-vm$n"
		"${accel_args[@]}"
		-machine q35,cxl=on
		-m "$mem,maxmem=16G,slots=8" -smp 2
		# the CXL fixed memory window: 6 GiB routed to host bridge cxl.1
		-M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=6G
		-device pxb-cxl,bus_nr=23,bus=pcie.0,id=cxl.1,hdm_for_passthrough=true
		-device cxl-rp,port=0,bus=cxl.1,id=rp0,chassis=0,slot=2
		# the broker's host socket; reconnect if the broker restarts
		-chardev "socket,id=brk,path=$rt/host.sock,reconnect-ms=500"
		# a DCD with no backing memdev: its capacity comes from the broker
		-device "cxl-type3,bus=rp0,id=cxl-vmem0,num-dc-regions=1,dc-regions-total-size=4G,dc-regions-sharable=1,dcd-broker=brk,dcd-host-id=$n"
		# the VM's own QMP (cxl-query-dynamic-capacity, or add/release
		# forwarded to the broker) and serial console
		-qmp "unix:$rt/vm$n.qmp,server=on,wait=off"
		-serial "unix:$rt/vm$n.serial,server=on,wait=off"
		-display none -daemonize -pidfile "$rt/vm$n.pid")
	# shellcheck disable=SC2206 # EXTRA is meant to be split
	cmd+=(${EXTRA:-})
	if [ -n "$disk" ]; then
		cmd+=(-drive "file=$disk,if=virtio")
	fi
}

if $run; then
	for b in "$broker" "$dcdctl" "$qemu"; do
		[ -x "$b" ] || { echo "two-vms: $b is missing" >&2; exit 1; }
	done
	mkdir -p "$rt"
fi

show "# 1. the broker (Ctrl-C or kill it to stop; state survives in $rt/state)"
do_ mkdir -p "$rt"
printf '$ %q --host-socket %q --control-socket %q --state-dir %q &\n' \
	"$broker" "$rt/host.sock" "$rt/control.sock" "$rt/state"
if $run; then
	"$broker" --host-socket "$rt/host.sock" --control-socket "$rt/control.sock" \
		--state-dir "$rt/state" >"$rt/broker.out" 2>"$rt/broker.log" &
	echo $! >"$rt/broker.pid"
	for _ in $(seq 50); do
		grep -q ready "$rt/broker.out" 2>/dev/null && break
		sleep 0.1
	done
fi

show ""
show "# 2. two VMs, hosts 0 and 1 of the broker"
vm_cmdline 0 "$disk0"
do_ "${cmd[@]}"
vm_cmdline 1 "$disk1"
do_ "${cmd[@]}"

ctl() { do_ "$dcdctl" --socket "$rt/control.sock" "$@"; }
show ""
show "# 3. a pool, given to host 0 and shared with host 1"
if $run; then
	for _ in $(seq 100); do
		"$dcdctl" --socket "$rt/control.sock" status | grep -q "(2 connected)" && break
		sleep 0.1
	done
fi
ctl host list
ctl pool create --size 1G --tag "$tag"
# Without --wait: the guests answer whenever their driver gets to it.
ctl extent add --host 0 --tag "$tag" --policy free
ctl extent add --host 1 --tag "$tag" --policy enable-shared-access
ctl extent list --tag "$tag"

show ""
show "# The same from inside VM 1's QMP instead of dcdctl (forwarded to the broker):"
show "#   {\"execute\": \"cxl-add-dynamic-capacity\", \"arguments\": {\"path\": \"/machine/peripheral/cxl-vmem0\","
show "#    \"host-id\": 1, \"selection-policy\": \"enable-shared-access\", \"region\": 0,"
show "#    \"tag\": \"$tag\", \"extents\": []}}"
show "#   {\"execute\": \"cxl-query-dynamic-capacity\", \"arguments\": {\"path\": \"/machine/peripheral/cxl-vmem0\"}}"
show "# Release and clean up:"
show "#   dcdctl --socket $rt/control.sock extent release --host 0 --tag $tag   (and --host 1)"
show "#   dcdctl --socket $rt/control.sock pool destroy $tag"
show "#   kill \$(cat $rt/vm0.pid) \$(cat $rt/vm1.pid) \$(cat $rt/broker.pid)"
