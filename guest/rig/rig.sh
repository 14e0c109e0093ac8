#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# guest/rig/rig.sh [OUT] - the guest rig: a stock Debian kernel, a busybox
# initramfs and the firmware a -kernel boot needs, fetched and built into
# OUT (default guest/cache, or $DCD_GUEST_CACHE) and cached there.
#
# guest/rig/rig.sh --initramfs FILE [PROGRAM...] - only an initramfs, from
# the cached busybox, with the programs in /bin (the build makes the
# one its tests boot this way).
#
#   OUT/vmlinuz           the suite's current linux-image-amd64 kernel
#   OUT/kernel.txt        which package and version that is
#   OUT/firmware/         SeaBIOS and linuxboot_dma.bin, for QEMU's -L
#   OUT/initramfs.cpio.gz busybox, init (commands on ttyS1), and every
#                         file under $DCD_GUEST_EXTRA (a dir laid over /)
#
# DCD_GUEST_SUITE picks the Debian suite (default trixie).  The kernel is
# fetched again when the suite's current image changes; DCD_GUEST_OFFLINE=1
# uses what is cached without asking the archive.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=../../scripts/apt-private.sh
. "$top/scripts/apt-private.sh"

suite=${DCD_GUEST_SUITE:-trixie}
t0=$(date +%s)
say() { echo "guest-rig: $* ($(($(date +%s) - t0))s)" >&2; }
die() { echo "guest-rig: error: $*" >&2; exit 1; }
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

# make_initramfs FILE BUSYBOX EXTRA-DIR PROGRAM...
make_initramfs() {
	local file=$1 bb=$2 extra=$3 root
	shift 3
	root=$(mktemp -d)
	# mktemp makes it 0700, which would be the guest's / : no one but
	# root could run anything
	chmod 755 "$root"
	mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run,usr/bin}
	cp "$bb" "$root/bin/busybox"
	cp "$here/init" "$root/init"
	chmod 755 "$root/init" "$root/bin/busybox"
	if [ -n "$extra" ]; then
		cp -a "$extra"/. "$root"/
	fi
	for p in "$@"; do
		cp "$p" "$root/bin/"
	done
	(cd "$root" && find . | "$bb" cpio -o -H newc 2>/dev/null) |
		gzip -1 >"$file.tmp"
	mv "$file.tmp" "$file"
	rm -rf "$root"
}

if [ "${1:-}" = --initramfs ]; then
	[ $# -ge 2 ] || die "--initramfs needs a file"
	file=$2
	shift 2
	cache=${DCD_GUEST_CACHE:-$top/guest/cache}
	[ -x "$cache/busybox" ] ||
		die "no busybox in $cache: fetch the guest rig first (make guest)"
	make_initramfs "$file" "$cache/busybox" "" "$@"
	exit 0
fi

out=${1:-${DCD_GUEST_CACHE:-$top/guest/cache}}

mkdir -p "$out"
out=$(cd "$out" && pwd)

# The newest of a package in the private lists, downloaded once into $out.
fetch_deb() { # package -> path of the .deb
	local pkg=$1 ver file
	ver=$(apt-cache "${APT_PRIVATE[@]}" policy "$pkg" |
		awk '/Candidate:/ {print $2}')
	[ -n "$ver" ] && [ "$ver" != "(none)" ] || die "$pkg is not in $suite"
	file=$(ls "$out/debs/${pkg}_"*.deb 2>/dev/null | head -n1 || true)
	if [ -z "$file" ] || ! dpkg-deb -f "$file" Version | grep -qxF "$ver"; then
		rm -f "$out/debs/${pkg}_"*.deb
		say "downloading $pkg $ver from $suite"
		mkdir -p "$out/debs"
		(cd "$out/debs" && apt-get "${APT_PRIVATE[@]}" -qq download \
			"$pkg=$ver") || die "downloading $pkg failed"
		file=$(ls "$out/debs/${pkg}_"*.deb | head -n1)
	fi
	echo "$file"
}

# Pull files out of a .deb: extract DEB DEST PATTERN...
extract() {
	local deb=$1 dest=$2
	shift 2
	mkdir -p "$dest"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dest" --wildcards "$@"
}

if [ "${DCD_GUEST_OFFLINE:-0}" = 1 ] && [ -f "$out/vmlinuz" ] &&
	[ -f "$out/firmware/linuxboot_dma.bin" ] && [ -x "$out/busybox" ]; then
	say "offline: using the cached kernel ($(cat "$out/kernel.txt"))"
else
	mirror=$(apt_private_mirror) ||
		die "no Debian mirror found in the apt sources; set DEBIAN_MIRROR"
	say "looking up $suite's current kernel"
	apt_private_init "$out/apt" "deb [signed-by=$keyring] $mirror $suite main"
	kpkg=$(apt-cache "${APT_PRIVATE[@]}" depends linux-image-amd64 |
		awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	[ -n "$kpkg" ] || die "no linux-image-amd64 in $suite"
	kdeb=$(fetch_deb "$kpkg")
	kver=$(dpkg-deb -f "$kdeb" Version)
	if [ "$(cat "$out/kernel.txt" 2>/dev/null)" != "$kpkg $kver ($suite)" ] ||
		[ ! -f "$out/vmlinuz" ]; then
		rm -rf "$out/x"
		extract "$kdeb" "$out/x" './boot/vmlinuz-*'
		mv "$out/x"/boot/vmlinuz-* "$out/vmlinuz"
		echo "$kpkg $kver ($suite)" >"$out/kernel.txt"
		rm -rf "$out/x"
	fi
	# Old kernels of the suite are of no more use.
	find "$out/debs" -name 'linux-image-*.deb' ! -name "${kpkg}_*" -delete
	fdeb=$(fetch_deb qemu-system-data)
	bdeb=$(fetch_deb busybox-static)
	rm -rf "$out/x"
	extract "$fdeb" "$out/x" './usr/share/qemu/linuxboot_dma.bin'
	# bookworm ships it in /bin, trixie in /usr/bin
	extract "$bdeb" "$out/x" '*bin/busybox'
	mkdir -p "$out/firmware"
	mv "$out/x/usr/share/qemu/linuxboot_dma.bin" "$out/firmware/"
	mv "$(find "$out/x" -name busybox -type f | head -n1)" "$out/busybox"
	rm -rf "$out/x" "$out/apt"
	say "kernel $(cat "$out/kernel.txt")"
fi

# SeaBIOS from the seabios package, beside linuxboot_dma.bin.
for f in /usr/share/seabios/*.bin; do
	[ -e "$f" ] || die "SeaBIOS is missing (package seabios)"
	ln -sf "$f" "$out/firmware/"
done

# The initramfs is rebuilt each time: it is small and the extras change.
make_initramfs "$out/initramfs.cpio.gz" "$out/busybox" "${DCD_GUEST_EXTRA:-}"
say "ready: $out"
