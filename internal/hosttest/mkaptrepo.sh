#!/usr/bin/env bash
# Builds what tests of install steps need (HOSTS.md), or keeps the cached ones:
#
#  - a bare root filesystem: the test servers' (mkrootfs.sh) without nginx,
#    python3-venv, pip, gunicorn, Flask, Django, sudo and the deploy/nosudo
#    users — a server fresh from its provider, reached as root with a key;
#  - an apt repository (flat, [trusted=yes]) of Debian's packages a deploy
#    or setup installs, with every dependency the bare root filesystem
#    lacks, which internal/hosttest serves to each cluster on its bridge.
#
#   mkaptrepo.sh [ROOTFS]   ROOTFS defaults to $STACKCTL_ROOTFS or
#                           /var/lib/machines/stackctl-bookworm-v2
#
# Needs this machine's apt to reach Debian (it runs where debootstrap does)
# and dpkg-scanpackages (dpkg-dev). Each cache is built in DIR.tmp-PID and
# renamed when complete. Bump -vN here and in hosttest.go when contents
# change.
set -euo pipefail

rootfs="${1:-${STACKCTL_ROOTFS:-/var/lib/machines/stackctl-bookworm-v2}}"
bare="${STACKCTL_BARE_ROOTFS:-/var/lib/machines/stackctl-bookworm-bare-v1}"
repo="${STACKCTL_APT_REPO:-/var/lib/machines/stackctl-apt-v1}"
marker=etc/stackctl-rootfs

# What deploy, setup and their tests install on servers.
packages=(
	nginx python3-venv python3-pip sudo gunicorn python3-flask
	postgresql redis-server python3-psycopg2 python3-redis
	certbot python3-cffi-backend
	nftables unattended-upgrades
)

if [ -f "$bare/$marker" ] && [ -f "$repo/Packages" ]; then
	echo "aptrepo: cached at $bare and $repo"
	exit 0
fi
[ "$(id -u)" = 0 ] || { echo "aptrepo: must run as root" >&2; exit 1; }
[ -f "$rootfs/$marker" ] || { echo "aptrepo: no root filesystem at $rootfs — run mkrootfs.sh first" >&2; exit 1; }
command -v dpkg-scanpackages >/dev/null || { echo "aptrepo: dpkg-scanpackages missing — apt-get install dpkg-dev" >&2; exit 1; }

exec 9>"$repo.lock"
flock 9

tmps=()
cleanup() { rm -rf --one-file-system "${tmps[@]}"; }
trap cleanup EXIT

if [ ! -f "$bare/$marker" ]; then
	echo "aptrepo: deriving $bare from $rootfs"
	t="$bare.tmp-$$"
	tmps+=("$t")
	cp -a --reflink=auto "$rootfs" "$t"
	rm -f "$t/$marker"
	# No service may start inside the chroot while packages go.
	printf '#!/bin/sh\nexit 101\n' >"$t/usr/sbin/policy-rc.d"
	chmod 0755 "$t/usr/sbin/policy-rc.d"
	chroot "$t" userdel -r deploy >/dev/null 2>&1
	chroot "$t" userdel -r nosudo >/dev/null 2>&1
	rm -f "$t/etc/sudoers.d/deploy"
	SUDO_FORCE_REMOVE=yes DEBIAN_FRONTEND=noninteractive chroot "$t" apt-get purge -y -qq --autoremove \
		nginx nginx-common python3-venv python3-pip gunicorn python3-flask python3-django sudo \
		>"$t.log" 2>&1 || { tail -30 "$t.log" >&2; exit 1; }
	rm -f "$t.log"
	rm -rf "$t/var/www" "$t/etc/nginx"
	rm -f "$t/usr/sbin/policy-rc.d"
	# A fresh server has fetched no package lists yet.
	chroot "$t" apt-get clean
	find "$t/var/lib/apt/lists" -maxdepth 1 -type f -delete
	date -u +%FT%TZ >"$t/$marker"
	mv "$t" "$bare"
fi

if [ ! -f "$repo/Packages" ]; then
	echo "aptrepo: downloading ${packages[*]} and what $bare lacks of their dependencies"
	t="$repo.tmp-$$"
	tmps+=("$t")
	rm -rf "$repo"
	mkdir -p "$t/partial"
	apt-get update -qq
	# This machine's package lists, with the bare server's dpkg database as
	# what is installed: apt picks exactly the packages that server needs.
	apt-get install -y -qq --download-only \
		-o Dir::State::status="$bare/var/lib/dpkg/status" \
		-o Dir::Cache::archives="$t" \
		-o Debug::NoLocking=1 \
		"${packages[@]}" >/dev/null
	rm -rf "$t/partial" "$t/lock"
	(cd "$t" && dpkg-scanpackages -m . /dev/null >Packages 2>/dev/null)
	[ -s "$t/Packages" ] || { echo "aptrepo: no packages indexed in $t" >&2; exit 1; }
	mv "$t" "$repo"
fi
trap - EXIT
echo "aptrepo: built $bare and $repo ($(ls "$repo" | grep -c '\.deb$') packages, $(du -sh "$repo" | cut -f1))"
