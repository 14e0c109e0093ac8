# shellcheck shell=bash
# shellcheck disable=SC2154 # $broker and $dcdctl come from the sourcing script
# examples/lib.sh - what the demos share: a work dir cleaned up on exit
# with the processes started, the broker, dcdctl, hosts (VMs or
# simulated) talked to through FIFOs, and real guests' shells.
#
# Source it after setting $broker and $dcdctl.

# need PROGRAM...: stop unless each was built.
need() {
	local b
	for b in "$@"; do
		[ -x "$b" ] || { echo "demo: $b is missing; run 'make' first" >&2; exit 1; }
	done
}

work=$(mktemp -d /tmp/dcd-demo.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n==> %s\n' "$*"; }
ctl() { echo "\$ dcdctl $*"; "$dcdctl" --socket "$work/control.sock" "$@"; }
die() { echo "demo: $*" >&2; exit 1; }

start_broker() {
	local ready
	step "Starting dcd-broker (state in $work/state)"
	mkfifo "$work/broker.out"
	"$broker" --host-socket "$work/host.sock" --control-socket "$work/control.sock" \
		--state-dir "$work/state" >"$work/broker.out" 2>"$work/broker.log" &
	pids+=($!)
	read -r ready <"$work/broker.out"
	echo "$ready"
}

# Run a host in the background; we talk to it through two FIFOs, its
# stdin on fd_in and its stdout on fd_out.
start_piped() { # id fd_in fd_out log command...
	local id=$1 fin=$2 fout=$3 log=$4
	shift 4
	mkfifo "$work/in$id" "$work/out$id"
	"$@" <"$work/in$id" >"$work/out$id" 2>>"$log" &
	pids+=($!)
	eval "exec $fin>\"$work/in$id\" $fout<\"$work/out$id\""
}

# Send one command line; print what follows "ok" of the reply, or stop.
ask() { # who fd_in fd_out command...
	local who=$1 fin=$2 fout=$3 reply
	shift 3
	echo "$*" >&"$fin"
	read -r reply <&"$fout"
	case $reply in
	ok*) echo "${reply#ok}" | sed 's/^ //' ;;
	*) die "$who said: $reply" ;;
	esac
}

# A new memfd pool of size; prints its tag.
new_pool() { # size
	"$dcdctl" --socket "$work/control.sock" --json pool create --size "$1" |
		sed -n 's/.*"tag" : "\(.*\)".*/\1/p'
}


# For a demo with real guests ($here and $build set): the guest program,
# its initramfs, the rig and QEMU, each checked.
need_guests() {
	guestvm=$build/examples/guest-vm
	initramfs=$build/guest/initramfs.cpio.gz
	rig=${DCD_GUEST_CACHE:-$here/guest/cache}
	qemu=${DCD_QEMU:-$here/qemu/build/qemu-system-x86_64}
	need "$broker" "$dcdctl" "$guestvm"
	[ -x "$qemu" ] || die "no QEMU at $qemu; run 'make qemu' (qemu/build.sh) or set DCD_QEMU"
	[ -f "$rig/vmlinuz" ] || die "no guest rig in $rig; run 'make guest'"
	ninja -C "$build" guest/initramfs.cpio.gz >/dev/null
}

# A real guest (need_guests first) in the background; its shell through
# two FIFOs.
start_vm_on() { # id socket fd_in fd_out label [guest-vm options...]
	local id=$1 sock=$2 fin=$3 fout=$4 label=$5 line
	shift 5
	start_piped "$id" "$fin" "$fout" "$work/vm$id.log" \
		"$guestvm" --qemu "$qemu" --socket "$sock" \
		--host-id "$id" --rig "$rig" --initramfs "$initramfs" "$@"
	read -r line <&"$fout" || true
	echo "$label: $line"
}
wait_ready() { # id fd_out
	local line
	read -r line <&"$2" || true
	case $line in
	ready*) echo "VM $1: $line" ;;
	*) cat "$work/vm$1.log" >&2; die "VM $1 did not come up: $line" ;;
	esac
}
# A command line in a guest: its output; stop if it fails.
vm_out() { # fd_in fd_out command
	local fin=$1 fout=$2 line
	shift 2
	echo "$*" >&"$fin"
	while read -r line <&"$fout"; do
		case $line in
		"=== rc 0") return 0 ;;
		"=== rc "*) die "'$*' failed in a VM (${line#=== })" ;;
		*) echo "$line" ;;
		esac
	done
	die "a VM stopped answering"
}
# The same, shown: the command, then its output indented.
in_vm() { # id fd_in fd_out command
	local id=$1
	shift
	echo "VM $id# ${*:3}"
	vm_out "$@" | sed 's/^/  /'
}
