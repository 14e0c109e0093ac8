#!/usr/bin/env bash
# Install what dcd-broker (and the patched QEMU) need on Debian 12.
# libsystemd-dev: sd_notify readiness and socket activation; systemd (not
# run, only its tools): systemd-socket-activate and systemd-analyze verify
# test the units; bash-completion: where dcdctl's completion installs.
# libsoup-3.0-dev: the broker's HTTP client for etcd's JSON API (the
# cluster store), GLib's own, so requests run on the broker's main loop.
# --cluster (make check only) adds etcd-server and etcd-client: the
# cluster suite starts its own etcd members (etcd is the field's standard
# consistent store; Debian's 3.4); the package's system etcd.service is
# stopped and disabled, never used.  A single broker (make demo) needs no
# etcd.  It adds openssl too: the cluster-tls test makes its CA and
# certificates with it (the broker's TLS is GIO's, glib-networking, which
# libsoup-3.0 depends on).
# device-tree-compiler: QEMU's configure needs dtc for pc-bios/dtb when
# the source has no prebuilt blobs (Debian +ds).
# meson comes from bookworm-backports because QEMU 10.2.2 needs >= 1.5;
# a private apt list is used so the system's apt configuration is untouched.
# --bench (make bench only) adds jq and gnuplot for the pictures.
# --fuzz (make fuzz only) adds clang and libFuzzer's runtime, which
# Debian 12 ships in libclang-rt-14-dev, a mere recommendation of clang.
set -euo pipefail

fuzz=false
bench=false
cluster=false
case "${1:-}" in
--fuzz) fuzz=true ;;
--bench) bench=true ;;
--cluster) cluster=true ;;
esac

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: missing packages ($*); run as root or install them" >&2
		exit 1
	fi
}

pkgs="gcc make pkgconf ninja-build python3 python3-setuptools python3-venv
      libglib2.0-dev uuid-dev liburcu-dev libjson-glib-dev seabios
      device-tree-compiler libsystemd-dev systemd bash-completion
      libsoup-3.0-dev python3-docutils"
if $cluster; then
	pkgs="$pkgs etcd-server etcd-client openssl"
fi
if $bench; then
	# jq reads the results, gnuplot draws them (bench/plot.sh).
	pkgs="$pkgs jq gnuplot-nox"
fi
if $fuzz; then
	pkgs="$pkgs clang libclang-rt-14-dev"
fi
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	need_root $missing
	echo "install-deps: apt-get install$missing"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
	case " $missing " in
	*" etcd-server "*)
		# Tests run their own members; the package's service is not ours.
		if [ -d /run/systemd/system ]; then
			systemctl disable --now etcd >/dev/null 2>&1 || true
		else
			service etcd stop >/dev/null 2>&1 || true
			update-rc.d etcd disable >/dev/null 2>&1 || true
		fi ;;
	esac
fi

meson_ok() {
	command -v meson >/dev/null &&
		python3 - "$(meson --version)" <<'PY'
import sys
v = tuple(int(x) for x in sys.argv[1].split(".")[:2])
sys.exit(0 if v >= (1, 5) else 1)
PY
}

if ! meson_ok; then
	need_root meson
	echo "install-deps: fetching meson from bookworm-backports"
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	mkdir -p "$work/lists/partial" "$work/debs"
	cat >"$work/sources.list" <<'SRC'
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-backports main
SRC
	opts=(-o "Dir::Etc::SourceList=$work/sources.list"
	      -o "Dir::Etc::SourceParts=/dev/null"
	      -o "Dir::State::Lists=$work/lists")
	apt-get "${opts[@]}" update -qq
	(cd "$work/debs" && apt-get "${opts[@]}" download meson)
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$work"/debs/meson_*.deb >/dev/null
fi
echo "install-deps: ok (meson $(meson --version))"
