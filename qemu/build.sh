#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# qemu/build.sh - build the patched QEMU used by dcd-broker.
#
# Source: $QEMU_SRC (an unpacked tree or a tarball) or, by default, Debian's
# source package qemu=1:$VERSION+ds-1 fetched with a private apt list (the
# system's apt configuration is never touched).  The orig tarball is checked
# against SHA256SUMS, unpacked into qemu/src as a git repository whose first
# commit (tag "upstream") is the pristine source, and patches/series is
# applied on top as commits (branch "series").  Then the minimal CXL build is
# configured in qemu/build and qemu-system-x86_64 is built there.
#
# The work is cached: if the source checksum, the series and the build
# configuration are unchanged (see qemu/build/.dcd-stamp), nothing is done.
#
# Usage: qemu/build.sh [--dev | --reset | --export | --help]
#   (none)    build upstream + series; refuses to discard unexported commits
#             or edits in qemu/src
#   --dev     build qemu/src exactly as it is (editing workflow)
#   --reset   like the default, but discard local changes in qemu/src
#   --export  regenerate patches/ and patches/series from qemu/src
#             (same as qemu/export.sh)
#
# Environment: QEMU_SRC, QEMU_SRC_UNVERIFIED=1 (allow a tarball that is not
# listed in SHA256SUMS), DEBIAN_MIRROR (default: the mirror of the system's
# Debian sources), QEMU_JOBS (ninja -j), QEMU_BUILD_DIR (default qemu/build).
set -euo pipefail

QDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/apt-private.sh
. "$QDIR/../scripts/apt-private.sh"
SRC=$QDIR/src
BUILD=${QEMU_BUILD_DIR:-$QDIR/build}
CACHE=$QDIR/cache
PATCHES=$QDIR/patches
VERSION=$(tr -d ' \n' <"$QDIR/VERSION")
DEB_VERSION="1:${VERSION}+ds-1"
ORIG="qemu_${VERSION}+ds.orig.tar.xz"
BIN=qemu-system-x86_64
DEVCONF=cxl-min

CONFIGURE_FLAGS=(
	--python=/usr/bin/python3
	--target-list=x86_64-softmmu
	--without-default-features
	--without-default-devices
	--with-devices-x86_64=$DEVCONF
	--enable-kvm --enable-tcg
	--disable-docs --disable-user --disable-tools
	--disable-fdt --disable-install-blobs
)

# Fixed identity and dates so the same series always gives the same commits.
export GIT_AUTHOR_NAME="QEMU upstream" GIT_AUTHOR_EMAIL="qemu-devel@nongnu.org"
export GIT_COMMITTER_NAME="dcd-broker qemu/build.sh"
export GIT_COMMITTER_EMAIL="build@dcd-broker.invalid"

say() { echo "qemu-build: $*"; }
die() { echo "qemu-build: error: $*" >&2; exit 1; }

t_start=$(date +%s)
elapsed() { echo "$(($(date +%s) - t_start))s"; }

mode=build
case "${1:-}" in
"") ;;
--dev) mode=dev ;;
--reset) mode=reset ;;
--export) exec "$QDIR/export.sh" ;;
-h | --help)
	sed -n '3,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
	exit 0
	;;
*) die "unknown argument '$1' (try --help)" ;;
esac

for tool in git ninja meson python3 sha256sum tar; do
	command -v "$tool" >/dev/null || die "$tool not found; run scripts/install-deps.sh"
done

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

expected_sha() { # file name -> sha256 listed in SHA256SUMS (or empty)
	awk -v f="$1" '$2 == f || $2 == "*" f { print $1 }' "$QDIR/SHA256SUMS"
}

# The series as a list of patch paths, in order.
series_files() {
	local p
	[ -f "$PATCHES/series" ] || return 0
	while read -r p; do
		p=${p%%#*}
		p=$(echo "$p" | tr -d '[:space:]')
		[ -n "$p" ] || continue
		[ -f "$PATCHES/$p" ] || die "patches/series lists missing file $p"
		echo "$PATCHES/$p"
	done <"$PATCHES/series"
}

fetch_orig() { # -> $CACHE/$ORIG
	local want tmp mirror
	want=$(expected_sha "$ORIG")
	[ -n "$want" ] || die "$ORIG is not listed in qemu/SHA256SUMS"
	if [ -f "$CACHE/$ORIG" ] && [ "$(sha256_of "$CACHE/$ORIG")" = "$want" ]; then
		return
	fi
	command -v apt-get >/dev/null || die "apt-get not found; set QEMU_SRC"
	mirror=$(apt_private_mirror) ||
		die "no Debian mirror found in the apt sources; set DEBIAN_MIRROR"
	say "fetching Debian source qemu=$DEB_VERSION from sid ($(elapsed))"
	tmp=$CACHE/apt
	apt_private_init "$tmp" \
		"deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror sid main"
	mkdir -p "$tmp/dl"
	(cd "$tmp/dl" && apt-get "${APT_PRIVATE[@]}" -qq source --download-only \
		"qemu=$DEB_VERSION") || die "apt-get source failed"
	[ -f "$tmp/dl/$ORIG" ] || die "apt-get did not produce $ORIG"
	local dsc="qemu_${VERSION}+ds-1.dsc" dwant
	dwant=$(expected_sha "$dsc")
	if [ -n "$dwant" ] && [ -f "$tmp/dl/$dsc" ] &&
		[ "$(sha256_of "$tmp/dl/$dsc")" != "$dwant" ]; then
		die "checksum mismatch for $dsc"
	fi
	[ "$(sha256_of "$tmp/dl/$ORIG")" = "$want" ] ||
		die "checksum mismatch for $ORIG (expected $want)"
	mv "$tmp/dl/$ORIG" "$CACHE/$ORIG"
	[ -f "$tmp/dl/$dsc" ] && mv "$tmp/dl/$dsc" "$CACHE/$dsc"
	rm -rf "$tmp"
}

# Resolve the source: sets src_kind (tarball|tree), src_path, src_id.
resolve_source() {
	mkdir -p "$CACHE"
	if [ -n "${QEMU_SRC:-}" ]; then
		[ -e "$QEMU_SRC" ] || die "QEMU_SRC=$QEMU_SRC does not exist"
		src_path=$(realpath "$QEMU_SRC")
		if [ -d "$src_path" ]; then
			[ -f "$src_path/VERSION" ] || die "$src_path is not a QEMU tree"
			[ "$(tr -d ' \n' <"$src_path/VERSION")" = "$VERSION" ] ||
				say "warning: $src_path is QEMU $(cat "$src_path/VERSION"), not $VERSION"
			say "warning: a source tree cannot be checksummed; using it unverified"
			src_kind=tree
			src_id="tree:$src_path"
			return
		fi
		src_kind=tarball
		src_id=$(sha256_of "$src_path")
		local want
		want=$(expected_sha "$(basename "$src_path")")
		if [ -n "$want" ]; then
			[ "$src_id" = "$want" ] ||
				die "checksum mismatch for $src_path (expected $want)"
		elif [ "${QEMU_SRC_UNVERIFIED:-0}" = 1 ]; then
			say "warning: $(basename "$src_path") not in SHA256SUMS; unverified"
		else
			die "$(basename "$src_path") is not in qemu/SHA256SUMS (QEMU_SRC_UNVERIFIED=1 to allow)"
		fi
		return
	fi
	fetch_orig
	src_kind=tarball
	src_path=$CACHE/$ORIG
	src_id=$(expected_sha "$ORIG")
}

# Does qemu/src hold work that the series does not have?
src_has_local_work() {
	[ -d "$SRC/.git" ] || return 1
	local applied head
	applied=$(git -C "$SRC" rev-parse -q --verify refs/dcd/applied || true)
	head=$(git -C "$SRC" rev-parse -q --verify HEAD || true)
	[ -n "$(git -C "$SRC" status --porcelain --untracked-files=no)" ] && return 0
	[ "$applied" != "$head" ]
}

unpack_source() {
	say "unpacking $src_kind into qemu/src ($(elapsed))"
	rm -rf "$SRC"
	mkdir -p "$SRC"
	if [ "$src_kind" = tree ]; then
		tar -C "$src_path" --exclude=.git -cf - . | tar -C "$SRC" -xf -
	else
		tar -C "$SRC" --strip-components=1 -xf "$src_path"
	fi
	[ -f "$SRC/VERSION" ] || die "unpacked source has no VERSION file"
	(
		cd "$SRC"
		git init -q -b series
		git config core.autocrlf false
		git config gc.auto 0
		git config user.name "$GIT_COMMITTER_NAME"
		git config user.email "$GIT_COMMITTER_EMAIL"
		git config dcd.source "$src_id"
		# Upstream .gitignore files may hide sources; import everything.
		git add -A -f .
		GIT_AUTHOR_DATE="2000-01-01T00:00:00Z" \
			GIT_COMMITTER_DATE="2000-01-01T00:00:00Z" \
			git commit -q --no-verify -m "QEMU $VERSION upstream source" \
			-m "Imported unmodified from $(basename "$src_path")."
		git tag -f upstream >/dev/null
	)
}

apply_series() {
	local n=0 p
	git -C "$SRC" checkout -q -f -B series upstream
	git -C "$SRC" clean -q -fd
	while read -r p; do
		[ -n "$p" ] || continue
		n=$((n + 1))
		git -C "$SRC" am -q --keep-cr --committer-date-is-author-date "$p" ||
			{
				git -C "$SRC" am --abort || true
				die "patch $(basename "$p") does not apply"
			}
	done < <(series_files)
	git -C "$SRC" update-ref refs/dcd/applied HEAD
	say "applied $n patch(es) on upstream ($(elapsed))"
}

# Build configuration files that live in qemu/src but not in its history.
install_file() { # src dst-relative-to-qemu/src
	local dst=$SRC/$2
	cmp -s "$1" "$dst" || cp "$1" "$dst"
	grep -qxF "/$2" "$SRC/.git/info/exclude" 2>/dev/null ||
		echo "/$2" >>"$SRC/.git/info/exclude"
}

install_devconf() {
	install_file "$QDIR/$DEVCONF.mak" "configs/devices/x86_64-softmmu/$DEVCONF.mak"
	install_file "$QDIR/meson-linux.txt" configs/meson/linux.txt
}

configure_build() {
	local want have=""
	want=$(printf '%s\n' "$SRC" "${CONFIGURE_FLAGS[@]}"; cat "$QDIR/meson-linux.txt")
	[ -f "$BUILD/.dcd-configure" ] && have=$(cat "$BUILD/.dcd-configure")
	if [ -f "$BUILD/build.ninja" ] && [ "$want" = "$have" ]; then
		return
	fi
	say "configuring in $BUILD ($(elapsed))"
	mkdir -p "$BUILD"
	# pyshim/ supplies the pycotap stand-in that configure insists on.
	(cd "$BUILD" && PYTHONPATH="$QDIR/pyshim${PYTHONPATH:+:$PYTHONPATH}" \
		"$SRC/configure" "${CONFIGURE_FLAGS[@]}") >"$BUILD/.configure.log" 2>&1 ||
		{
			tail -n 40 "$BUILD/.configure.log" >&2
			die "configure failed (log: $BUILD/.configure.log)"
		}
	echo "$want" >"$BUILD/.dcd-configure"
}

run_ninja() {
	local jobs=()
	[ -n "${QEMU_JOBS:-}" ] && jobs=(-j "$QEMU_JOBS")
	say "building $BIN ($(elapsed))"
	# Show ninja's progress every 50 steps and every non-progress line.
	NINJA_STATUS="[%f/%t] " ninja -C "$BUILD" "${jobs[@]}" "$@" 2>&1 |
		awk '/^\[[0-9]+\/[0-9]+\] / {
			s = $1; gsub(/[\[\]]/, "", s); split(s, a, "/")
			if (a[1] % 50 == 0 || a[1] == a[2])
				print "qemu-build: [" a[1] "/" a[2] "]"
			fflush(); next
		}
		/^ninja: (Entering|no work)/ { next }
		{ print; fflush() }'
}

stamp_of() {
	{
		echo "source $src_id"
		echo "mode $mode"
		printf '%s\n' "${CONFIGURE_FLAGS[@]}"
		cat "$QDIR/$DEVCONF.mak" "$QDIR/meson-linux.txt"
		local p
		while read -r p; do
			[ -n "$p" ] || continue
			echo "patch $(basename "$p") $(sha256_of "$p")"
		done < <(series_files)
	} | sha256sum | cut -d' ' -f1
}

# The +ds source ships no firmware; let the binary find Debian's SeaBIOS
# (package seabios) without -L by linking it into the build's data dir.
link_firmware() {
	local dd=$BUILD/qemu-bundle/usr/local/share/qemu f
	[ -d /usr/share/seabios ] || return 0
	mkdir -p "$dd"
	for f in /usr/share/seabios/*.bin; do
		[ -e "$f" ] || continue
		[ -e "$dd/$(basename "$f")" ] || ln -s "$f" "$dd/"
	done
}

mark_ready() {
	link_firmware
	[ -x "$BUILD/$BIN" ] || return 0
	[ -f "$BUILD/.upstream-ready" ] && return 0
	{
		echo "QEMU $VERSION $BIN built by qemu/build.sh"
		date -u +%Y-%m-%dT%H:%M:%SZ
	} >"$BUILD/.upstream-ready"
}

if [ "$mode" = dev ]; then
	[ -d "$SRC/.git" ] || die "qemu/src does not exist; run qemu/build.sh first"
	install_devconf
	configure_build
	run_ninja "$BIN"
	rm -f "$BUILD/.dcd-stamp" # built from an edited tree: not the series
	mark_ready
	say "done: $BUILD/$BIN (qemu/src as is, $(elapsed))"
	exit 0
fi

resolve_source
stamp=$(stamp_of)
if [ -f "$BUILD/.dcd-stamp" ] && [ "$(cat "$BUILD/.dcd-stamp")" = "$stamp" ] &&
	[ -x "$BUILD/$BIN" ] && ! src_has_local_work; then
	say "up to date: source and series unchanged, nothing to do ($BUILD/$BIN)"
	mark_ready
	exit 0
fi

if src_has_local_work && [ "$mode" != reset ]; then
	die "qemu/src has commits or edits not in patches/ (run qemu/export.sh to keep them," \
		"qemu/build.sh --dev to build them, or --reset to discard them)"
fi

if [ -d "$SRC/.git" ] && [ "$(git -C "$SRC" config dcd.source || true)" = "$src_id" ] &&
	git -C "$SRC" rev-parse -q --verify upstream >/dev/null; then
	say "reusing qemu/src (same upstream source)"
else
	unpack_source
fi
apply_series
install_devconf
configure_build
rm -f "$BUILD/.dcd-stamp"
run_ninja "$BIN"
[ -x "$BUILD/$BIN" ] || die "$BIN was not produced"
echo "$stamp" >"$BUILD/.dcd-stamp"
mark_ready
say "done: $BUILD/$BIN ($(elapsed))"
