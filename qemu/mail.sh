#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# qemu/mail.sh - the series as three mailable `git format-patch` series,
# each with its cover letter, in qemu/mail/ (generated, git-ignored):
#
#   qemu/mail/1-fixes/          patches 1-9   (the qtest helpers, then the
#                                              fixes with Fixes: and stable Cc)
#   qemu/mail/2-tagged-memory/  patches 10-19 (credit to the RFC)
#   qemu/mail/3-broker/         patches 20-35
#
# Cover letters come from qemu/mail-covers/<part>.txt (first line: the
# subject, the rest: the body).  Reads qemu/src as exported: run
# qemu/export.sh first.  Send with e.g.
#   git send-email --to=qemu-devel@nongnu.org qemu/mail/1-fixes/*.patch
set -euo pipefail

QDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$QDIR/src
OUT=$QDIR/mail
COVERS=$QDIR/mail-covers

die() { echo "qemu-mail: error: $*" >&2; exit 1; }

[ -d "$SRC/.git" ] || die "qemu/src does not exist; run qemu/build.sh first"
[ -z "$(git -C "$SRC" status --porcelain --untracked-files=no)" ] ||
	die "qemu/src has uncommitted changes"
[ "$(git -C "$SRC" rev-parse HEAD)" = \
  "$(git -C "$SRC" rev-parse -q --verify refs/dcd/applied || true)" ] ||
	die "qemu/src is not what qemu/patches holds; run qemu/export.sh"

mapfile -t commits < <(git -C "$SRC" rev-list --reverse upstream..HEAD)
[ "${#commits[@]}" -eq 35 ] ||
	die "expected 35 patches, qemu/src has ${#commits[@]}"

RFC_LINK="https://lore.kernel.org/all/20251127225526.700-1-alireza.sanaee@huawei.com/"
STABLE="Cc: qemu-stable@nongnu.org"

# Upstream commits that introduced what patches 2-9 fix (from the
# qemu-devel pull request of July 2024 that merged the DCD emulation)
ADD_RSP='16fd1b1216a2 ("hw/cxl/cxl-mailbox-utils: Add mailbox commands to support add/release dynamic capacity response")'
QMP_IF='d0b9b28a5b9f ("hw/cxl/events: Add qmp interfaces to add/release dynamic capacity extents")'
EXT_LIST='1c9221f19e62 ("hw/mem/cxl_type3: Add DC extent list representative and get DC extent list mailbox support")'

# trailers <patch number>: one per line, "Key: value"
trailers() {
	case $1 in
	2) printf 'Fixes: %s\nFixes: %s\n%s\n' "$ADD_RSP" "$QMP_IF" "$STABLE" ;;
	3|4) printf '%s\n' "$STABLE" ;;
	5|7) printf 'Fixes: %s\n' "$EXT_LIST" ;;
	6) printf 'Fixes: %s\n' "$QMP_IF" ;;
	8|9) printf 'Fixes: %s\n%s\n' "$ADD_RSP" "$STABLE" ;;
	1[0-9])
		printf 'Suggested-by: Alireza Sanaee <alireza.sanaee@huawei.com>\n'
		printf 'Link: %s\n' "$RFC_LINK" ;;
	esac
}

part() {
	local name=$1 first=$2 last=$3
	local dir=$OUT/$name cover=$COVERS/$name.txt base tip n f
	local -a files

	[ -f "$cover" ] || die "no cover letter $cover"
	base=${commits[first - 1]}^
	tip=${commits[last - 1]}
	rm -rf "$dir"
	mkdir -p "$dir"
	# the cover letter is from the series' author, not qemu/src's committer
	git -C "$SRC" -c user.name="$(git -C "$SRC" log -1 --format=%an "$tip")" \
		-c user.email="$(git -C "$SRC" log -1 --format=%ae "$tip")" \
		format-patch -q --cover-letter --thread=shallow \
		--zero-commit --no-renames -o "$dir" \
		"$base..$tip"
	mapfile -t files < <(find "$dir" -name '[0-9]*.patch' ! -name '0000-*' |
			     sort)
	n=$first
	for f in "${files[@]}"; do
		while IFS= read -r t; do
			[ -n "$t" ] || continue
			git interpret-trailers --in-place --where start \
				--trailer "$t" "$f"
		done < <(trailers "$n" | tac)   # each goes first: reverse
		n=$((n + 1))
	done
	python3 - "$dir"/0000-cover-letter.patch "$cover" <<'PY'
import sys
path, cover = sys.argv[1], sys.argv[2]
subject, _, body = open(cover).read().partition('\n')
text = open(path).read()
text = text.replace('*** SUBJECT HERE ***', subject.strip(), 1)
text = text.replace('*** BLURB HERE ***', body.strip(), 1)
open(path, 'w').write(text)
PY
	echo "qemu-mail: $name: patches $first-$last, $(( ${#files[@]} + 1 )) files in ${dir#"$QDIR/../"}"
}

part 1-fixes 1 9
part 2-tagged-memory 10 19
part 3-broker 20 35
