# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced: fetch Debian packages with a private apt list, so the system's
# apt configuration is never touched.  Used by qemu/build.sh (the QEMU
# source package) and guest/rig/rig.sh (the guest kernel).

# The Debian archive the system uses (read only), or $DEBIAN_MIRROR.
apt_private_mirror() {
	if [ -n "${DEBIAN_MIRROR:-}" ]; then
		echo "$DEBIAN_MIRROR"
		return
	fi
	local m
	m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
		/etc/apt/sources.list.d/*.list 2>/dev/null |
		grep -oE '(https?|file)://[^ ]*/debian/?( |$)' | head -n1 |
		tr -d ' ' || true)
	[ -n "$m" ] || return 1
	echo "${m%/}"
}

# apt_private_init DIR LINE... : a private apt state in DIR with the given
# sources lines, updated; sets the array APT_PRIVATE for apt-get/apt-cache.
apt_private_init() {
	local dir=$1
	shift
	rm -rf "$dir"
	mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
	printf '%s\n' "$@" >"$dir/sources.list"
	APT_PRIVATE=(-o "Dir::Etc::SourceList=$dir/sources.list"
		-o "Dir::Etc::SourceParts=/dev/null"
		-o "Dir::State::Lists=$dir/lists"
		-o "Dir::Cache=$dir/cache" -o "Debug::NoLocking=1")
	apt-get "${APT_PRIVATE[@]}" -qq update
}
