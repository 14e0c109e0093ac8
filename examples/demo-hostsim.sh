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

build=${1:-build}
broker=$build/dcd-broker/dcd-broker
dcdctl=$build/dcd-broker/dcdctl
hostsim=$build/dcd-broker/dcd-hostsim
for b in "$broker" "$dcdctl" "$hostsim"; do
	[ -x "$b" ] || { echo "demo: $b is missing; run 'make' first" >&2; exit 1; }
done

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

# A host runs in the background; we talk to it through two FIFOs.
start_host() { # id fd_in fd_out [args...]
	local id=$1 fin=$2 fout=$3
	shift 3
	mkfifo "$work/in$id" "$work/out$id"
	"$hostsim" --socket "$work/host.sock" --host-id "$id" --name "vm$id" "$@" \
		<"$work/in$id" >"$work/out$id" 2>>"$work/host$id.log" &
	pids+=($!)
	eval "exec $fin>\"$work/in$id\" $fout<\"$work/out$id\""
}
host() { # fd_in fd_out command...
	local fin=$1 fout=$2 reply
	shift 2
	echo "$*" >&"$fin"
	read -r reply <&"$fout"
	case $reply in
	ok*) echo "${reply#ok}" | sed 's/^ //' ;;
	*) echo "demo: host said: $reply" >&2; exit 1 ;;
	esac
}

step "Starting dcd-broker (state in $work/state)"
mkfifo "$work/broker.out"
"$broker" --host-socket "$work/host.sock" --control-socket "$work/control.sock" \
	--state-dir "$work/state" >"$work/broker.out" 2>"$work/broker.log" &
pids+=($!)
read -r ready <"$work/broker.out"
echo "$ready"

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
other=$("$dcdctl" --socket "$work/control.sock" --json pool create --size 16M |
	sed -n 's/.*"tag" : "\(.*\)".*/\1/p')
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
	echo "demo: the hosts disagree" >&2
	exit 1
fi
echo "identical: every byte host 0 wrote, host 1 reads"

step "Releasing the pool from both hosts, then destroying it"
ctl extent release --host 0 --tag "$tag"
ctl extent release --host 1 --tag "$tag"
host 5 6 wait-released "$tag" 5000 >/dev/null
host 7 8 wait-released "$tag" 5000 >/dev/null
for _ in $(seq 50); do
	"$dcdctl" --socket "$work/control.sock" pool destroy "$tag" 2>/dev/null && break
	sleep 0.1
done
ctl pool list

step "Done; stopping the hosts and the broker"
