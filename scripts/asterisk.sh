#!/usr/bin/env bash
# asterisk.sh — the throwaway Asterisk root the tests run against.
#
#   scripts/asterisk.sh prepare   build .cache/asterisk-root (Debian sid + asterisk) unless cached
#   scripts/asterisk.sh path      print the root's path
#   scripts/asterisk.sh clean     unmount leftovers and delete the root
#
# Debian bookworm ships no asterisk package but sid does, and bookworm's mirror
# serves sid too, so debootstrap builds a minimal sid root holding Asterisk and
# its English sounds. The root is built in a temporary folder next to the cache
# and renamed into place only when complete: an interrupted run never leaves a
# root that looks ready. Building needs root (debootstrap, chroot).
#
# Environment:
#   ASTERISK_ROOT    where the root lives (default: <repo>/.cache/asterisk-root)
#   ASTERISK_MIRROR  Debian mirror (default: the first Debian mirror in the apt sources)
#   ASTERISK_SUITE   Debian suite to bootstrap (default: sid)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
root=${ASTERISK_ROOT:-$repo/.cache/asterisk-root}
suite=${ASTERISK_SUITE:-sid}
packages=asterisk,asterisk-core-sounds-en-wav

log() { echo "asterisk.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# mirror prints the Debian mirror from the machine's apt sources: deb822
# "URIs:" lines first, then one-line "deb" entries. Security and third-party
# archives are skipped: only a plain .../debian archive serves sid.
mirror() {
	if [ -n "${ASTERISK_MIRROR:-}" ]; then
		echo "$ASTERISK_MIRROR"
		return
	fi
	local m
	m=$({
		cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }'
		cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { print $i; break } }'
	} | sed 's:/*$::' | grep -E '^(https?|file)://.*/debian$' | head -n1 || true)
	echo "${m:-http://deb.debian.org/debian}"
}

# unmount_all detaches every mount left under the root (a killed test run
# may leave /proc or /dev bound), deepest first.
unmount_all() {
	local dir=$1
	[ -d "$dir" ] || return 0
	awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

prepare() {
	if [ -x "$root/usr/sbin/asterisk" ]; then
		return 0
	fi
	[ "$(id -u)" -eq 0 ] || die "building the Asterisk root needs root (debootstrap, chroot)"
	local start=$SECONDS
	"$here/install-deps.sh" debootstrap
	command -v debootstrap >/dev/null || PATH=$PATH:/usr/sbin:/sbin

	local parent m
	parent=$(dirname "$root")
	mkdir -p "$parent"
	# Parallel test binaries may all find the root missing: one builds it,
	# the others wait for it.
	exec 9>"$parent/asterisk-root.lock"
	flock 9
	if [ -x "$root/usr/sbin/asterisk" ]; then
		return 0
	fi
	# Leftovers of an interrupted build: nothing is mounted there, but make sure.
	for old in "$parent"/.asterisk-root.*; do
		[ -e "$old" ] || continue
		unmount_all "$old"
		rm -rf --one-file-system "$old"
	done
	tmp=$(mktemp -d "$parent/.asterisk-root.XXXXXX")
	trap 'unmount_all "$tmp"; rm -rf --one-file-system "$tmp"' EXIT
	m=$(mirror)
	log "building Debian $suite root with $packages from $m (one to two minutes, about 430 MB)"
	if ! debootstrap --variant=minbase --include="$packages" "$suite" "$tmp" "$m" >"$parent/debootstrap.log" 2>&1; then
		tail -n 30 "$parent/debootstrap.log" >&2
		die "debootstrap failed; full log in $parent/debootstrap.log"
	fi
	[ -x "$tmp/usr/sbin/asterisk" ] || die "debootstrap finished but $tmp/usr/sbin/asterisk is missing"
	# debootstrap can leave the root's /proc mounted; the rename below would
	# carry that mount along into the cache.
	unmount_all "$tmp"
	# Drop the package cache: the root is never upgraded, only rebuilt.
	rm -rf "$tmp"/var/cache/apt/archives/*.deb
	mv -T "$tmp" "$root"
	trap - EXIT
	log "Asterisk root ready in $((SECONDS - start))s: $root ($(chroot "$root" asterisk -V))"
}

case "${1:-}" in
prepare) prepare ;;
path) echo "$root" ;;
clean)
	unmount_all "$root"
	rm -rf --one-file-system "$root"
	;;
*)
	echo "usage: $0 prepare|path|clean" >&2
	exit 2
	;;
esac
