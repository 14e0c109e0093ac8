#!/usr/bin/env bash
# Two VMs of your own sharing one dcd-broker pool, with real Linux guests.
#
# What it does (with --run; without it, it only prints the commands):
#   1. starts dcd-broker with its sockets and state in $RUNTIME;
#   2. starts two patched QEMUs (qemu/README.md), each with the CXL
#      topology of the design brief (one pxb-cxl host bridge, one root
#      port, one cxl-type3 Dynamic Capacity Device with a 4 GiB sharable
#      DC region) whose device is a host of the broker: host 0 and host 1.
#      By default each boots the guest rig (make guest): a stock Debian
#      kernel and an initramfs carrying dcd-guest, the guest's DCD driver
#      (docs/guest.md), with the kernel's own CXL drivers blacklisted;
#   3. starts dcd-guest's agent in each guest, creates a 1 GiB pool,
#      offers it to host 0 (free placement) and, with enable-shared-access,
#      to host 1, writes into it from VM 0 and reads it back in VM 1.
#
# With disk images instead (DISK0 DISK1) the VMs boot those: put dcd-guest
# in them first (docs/guest.md) and start `dcd-guest watch` inside.
#
# usage: examples/two-vms.sh [--run] [DISK0 DISK1]
# env: DCD_QEMU (default qemu/build/qemu-system-x86_64), BUILD (build),
#      RUNTIME (default /tmp/dcd-two-vms), ACCEL (tcg), MEM (1G),
#      DCD_GUEST_CACHE (the rig, default guest/cache),
#      EXTRA (more QEMU arguments)
# Inside a rig guest: build/examples/guest-sh $RUNTIME/vmN.cmd 'COMMAND'.
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
accel=${ACCEL:-tcg}
mem=${MEM:-1G}
rig=${DCD_GUEST_CACHE:-$here/guest/cache}
initramfs=$build/guest/initramfs.cpio.gz
guestsh=$build/examples/guest-sh
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
		-nodefaults -display none -daemonize -pidfile "$rt/vm$n.pid")
	# shellcheck disable=SC2206 # EXTRA is meant to be split
	cmd+=(${EXTRA:-})
	if [ -n "$disk" ]; then
		cmd+=(-drive "file=$disk,if=virtio")
	else
		# the rig: the kernel's CXL drivers stay away, dcd-guest drives
		# the device; the second serial port takes shell commands
		cmd+=(-L "$rig/firmware" -global apic-common.vapic=off
			-cpu max,-hypervisor
			-serial "unix:$rt/vm$n.cmd,server=on,wait=off"
			-kernel "$rig/vmlinuz" -initrd "$initramfs"
			-append "console=ttyS0 quiet no_timer_check modprobe.blacklist=cxl_acpi,cxl_pci,cxl_port,cxl_mem")
	fi
}

if $run; then
	for b in "$broker" "$dcdctl" "$qemu" "$guestsh"; do
		[ -x "$b" ] || { echo "two-vms: $b is missing" >&2; exit 1; }
	done
	if [ -z "$disk0" ]; then
		[ -f "$rig/vmlinuz" ] || { echo "two-vms: no guest rig in $rig: make guest" >&2; exit 1; }
		ninja -C "$build" guest/initramfs.cpio.gz >/dev/null
	fi
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
# A command in VM n's guest (rig guests only).
in_vm() { # n command
	if [ -z "$disk0" ]; then
		do_ "$guestsh" "$rt/vm$1.cmd" "$2"
	fi
}
show ""
show "# 3. dcd-guest's agent in each guest; a pool, given to host 0 and shared with host 1"
if $run; then
	for _ in $(seq 100); do
		"$dcdctl" --socket "$rt/control.sock" status | grep -q "(2 connected)" && break
		sleep 0.1
	done
	if [ -z "$disk0" ]; then
		"$guestsh" --wait-ready "$rt/vm0.cmd" true
		"$guestsh" --wait-ready "$rt/vm1.cmd" true
	fi
fi
in_vm 0 "dcd-guest watch --daemon"
in_vm 1 "dcd-guest watch --daemon"
ctl host list
ctl pool create --size 1G --tag "$tag"
ctl extent add --host 0 --tag "$tag" --policy free --wait
ctl extent add --host 1 --tag "$tag" --policy enable-shared-access --wait
ctl extent list --tag "$tag"

show ""
show "# 4. VM 0 writes, VM 1 reads the same bytes"
in_vm 0 "dcd-guest list"
in_vm 0 "echo 'hello from VM 0' | dcd-guest write $tag"
in_vm 1 "dcd-guest read $tag --length 16"
in_vm 0 "dcd-guest sha256 $tag"
in_vm 1 "dcd-guest sha256 $tag"

show ""
show "# The same add from inside VM 1's QMP instead of dcdctl (forwarded to the broker):"
show "#   {\"execute\": \"cxl-add-dynamic-capacity\", \"arguments\": {\"path\": \"/machine/peripheral/cxl-vmem0\","
show "#    \"host-id\": 1, \"selection-policy\": \"enable-shared-access\", \"region\": 0,"
show "#    \"tag\": \"$tag\", \"extents\": []}}"
show "#   {\"execute\": \"cxl-query-dynamic-capacity\", \"arguments\": {\"path\": \"/machine/peripheral/cxl-vmem0\"}}"
show "# Release and clean up:"
show "#   dcdctl --socket $rt/control.sock extent release --host 0 --tag $tag --wait   (and --host 1)"
show "#   dcdctl --socket $rt/control.sock pool destroy $tag"
show "#   kill \$(cat $rt/vm0.pid) \$(cat $rt/vm1.pid) \$(cat $rt/broker.pid)"
