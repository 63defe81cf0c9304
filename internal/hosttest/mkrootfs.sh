#!/usr/bin/env bash
# Builds the root filesystem the deploy tests boot as Debian 12 servers
# (internal/hosttest, HOSTS.md), or keeps the cached one.
#
#   mkrootfs.sh [DIR]     DIR defaults to $STACKCTL_ROOTFS or
#                         /var/lib/machines/stackctl-bookworm-v2
#
# The build goes into DIR.tmp-PID and is renamed to DIR only when complete,
# so an interrupted build is never mistaken for a cache. Bump the -vN suffix
# (here and in hosttest.go) when the contents below change.
set -euo pipefail

dir="${1:-${STACKCTL_ROOTFS:-/var/lib/machines/stackctl-bookworm-v2}}"
if [ -f "$dir/etc/stackctl-rootfs" ]; then
	echo "rootfs: cached at $dir"
	exit 0
fi
[ "$(id -u)" = 0 ] || { echo "rootfs: must run as root" >&2; exit 1; }
for c in debootstrap systemd-nspawn; do
	command -v "$c" >/dev/null || { echo "rootfs: $c missing — apt-get install debootstrap systemd-container" >&2; exit 1; }
done

# go test runs packages in parallel: several may find the cache missing at
# once. One builds, the others wait for it and then find the cache.
mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9
if [ -f "$dir/etc/stackctl-rootfs" ]; then
	echo "rootfs: cached at $dir (built meanwhile)"
	exit 0
fi

tmp="$dir.tmp-$$"
# debootstrap bind-mounts /dev nodes and mounts /proc and /sys in the target;
# if it dies before unmounting them, never delete through those mounts.
cleanup() {
	grep -o " $tmp/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	rm -rf --one-file-system "$tmp" "$tmp.log"
}
trap cleanup EXIT
echo "rootfs: building $dir (debootstrap, a few minutes)"
debootstrap --variant=minbase \
	--include=systemd,systemd-sysv,dbus,openssh-server,nginx,iproute2,python3,python3-flask,python3-venv,python3-pip,python3-django,gunicorn,curl,ca-certificates,sudo \
	bookworm "$tmp" >"$tmp.log" 2>&1 || { tail -30 "$tmp.log" >&2; exit 1; }
rm -f "$tmp.log"

# Every booted host makes its own host keys before sshd starts.
rm -f "$tmp"/etc/ssh/ssh_host_*
cat >"$tmp/etc/systemd/system/ssh-hostkeys.service" <<'UNIT'
[Unit]
Description=Generate this host's SSH host keys
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
RequiredBy=ssh.service
UNIT
# Each host is named after its machine name.
rm -f "$tmp/etc/hostname"
# The "deploy@ with sudo" user.
chroot "$tmp" useradd -m -s /bin/bash deploy
echo 'deploy ALL=(ALL) NOPASSWD: ALL' >"$tmp/etc/sudoers.d/deploy"
chmod 0440 "$tmp/etc/sudoers.d/deploy"
# A user without sudo rights, for the "sudo wants a password" error.
chroot "$tmp" useradd -m -s /bin/bash nosudo
chroot "$tmp" passwd -d nosudo >/dev/null
for h in /root /home/deploy /home/nosudo; do
	install -d -m 0700 "$tmp$h/.ssh"
done
chroot "$tmp" chown deploy:deploy /home/deploy/.ssh
chroot "$tmp" chown nosudo:nosudo /home/nosudo/.ssh
chroot "$tmp" systemctl enable ssh nginx ssh-hostkeys.service >/dev/null 2>&1
# Quieter boots: no getty on a console nobody reads.
chroot "$tmp" systemctl mask console-getty.service getty@tty1.service >/dev/null 2>&1 || true
date -u +%FT%TZ >"$tmp/etc/stackctl-rootfs"
mv "$tmp" "$dir"
trap - EXIT
echo "rootfs: built $dir"
