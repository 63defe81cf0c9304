package setup

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/stackctl/stackctl/internal/stack"
)

// This file builds what setup installs: package lists, file contents and
// the shell scripts that read and change a host. They are pure functions of
// the project and the options, tested as text; items.go decides when they
// run.

// Paths setup writes on a host.
const (
	stateDir        = "/var/lib/stackctl/setup"
	backupRoot      = stateDir + "/backups"
	firewallList    = stateDir + "/firewall.list"
	sshdDropIn      = "/etc/ssh/sshd_config.d/10-stackctl.conf"
	journaldDropIn  = "/etc/systemd/journald.conf.d/50-stackctl.conf"
	autoUpgrades    = "/etc/apt/apt.conf.d/20auto-upgrades"
	firewallRules   = "/etc/stackctl/firewall.nft"
	firewallUnit    = "/etc/systemd/system/stackctl-firewall.service"
	firewallService = "stackctl-firewall.service"
	// journalMax caps the journal's disk use.
	journalMax = "500M"
)

// sudoersPath is the sudoers drop-in of the login user.
func sudoersPath(user string) string { return "/etc/sudoers.d/stackctl-" + user }

// Role is what a host is for in the project.
type Role int

const (
	// App runs the app (deploy.hosts).
	App Role = iota
	// LB runs only nginx in front of the app hosts (deploy.lb).
	LB
	// Services runs only [services] (PostgreSQL, Redis) for the app hosts:
	// a host of its own ("postgres = { host = "db1" }"), with no nginx and
	// no web ports.
	Services
)

func (r Role) String() string {
	switch r {
	case LB:
		return "lb"
	case Services:
		return "services"
	}
	return "app"
}

// Packages is what a host of role needs from Debian's archive for c: nginx,
// sudo for the login user, nftables for the firewall, unattended-upgrades;
// python3-venv on app hosts of a Python app (deploy builds its virtualenv
// there); certbot where TLS terminates without a certificate of the user's.
func Packages(c *stack.Config, role Role) []string {
	if role == Services {
		// deploy installs postgresql and redis-server itself.
		return []string{"sudo", "nftables", "unattended-upgrades"}
	}
	p := []string{"nginx", "sudo", "nftables", "unattended-upgrades"}
	if role == App && stack.IsPython(c.App.Template) {
		p = append(p, "python3-venv")
	}
	terminates := role == LB || c.Deploy.LB == ""
	if c.Nginx.TLS.Enabled && c.Nginx.TLS.Cert == "" && terminates {
		p = append(p, "certbot")
	}
	return p
}

// userRE is a login name useradd accepts without --badname.
var userRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// CheckUser says why name cannot be the login user for deploys of c.
func CheckUser(c *stack.Config, name string) error {
	switch {
	case !userRE.MatchString(name):
		return fmt.Errorf("--user %q is not a login name: lower-case letters, digits, '_' and '-', starting with a letter or '_'", name)
	case name == "root":
		return fmt.Errorf("--user root: deploys log in as a user of their own, with sudo; root keeps key-only logins")
	case name == c.Deploy.User:
		return fmt.Errorf("--user %s is the app's own user (deploy.user): it stays a system user with no login and no sudo; pick another name (the default is deploy)", name)
	}
	return nil
}

// keyTypes are the public key types sshd accepts by default.
var keyTypes = []string{
	"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
	"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
}

// ParseKey checks one authorized_keys line ("ssh-ed25519 AAAA… comment")
// and returns it without options or trailing blanks.
func ParseKey(line string) (string, error) {
	line = strings.TrimSpace(line)
	if line == "" {
		return "", fmt.Errorf("the public key is empty")
	}
	if strings.ContainsAny(line, "\n\r") {
		return "", fmt.Errorf("the public key file holds more than one line: give a file with one key")
	}
	f := strings.Fields(line)
	if len(f) < 2 || !slices.Contains(keyTypes, f[0]) {
		return "", fmt.Errorf("not an OpenSSH public key (want \"ssh-ed25519 AAAA… comment\"; a private key? give the .pub file)")
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil || len(blob) < 4+len(f[0]) || string(blob[4:4+len(f[0])]) != f[0] {
		return "", fmt.Errorf("the %s key's data is not valid", f[0])
	}
	return strings.Join(f, " "), nil
}

// sudoersContent lets user run anything through sudo without a password:
// deploys use `sudo -n`.
func sudoersContent(user string) string {
	return "# Written by stackctl setup: deploys log in as " + user + " and use sudo -n.\n" +
		user + " ALL=(ALL) NOPASSWD: ALL\n"
}

// sshdContent turns password logins off; root keeps logins with a key.
// It goes into sshd_config.d under a name that sorts before the 50-…
// files of cloud images (sshd keeps the first value it reads).
func sshdContent() string {
	return `# Written by stackctl setup: keys only.
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
`
}

// journaldContent caps the journal's disk use.
func journaldContent() string {
	return "# Written by stackctl setup.\n[Journal]\nSystemMaxUse=" + journalMax + "\n"
}

// autoUpgradesContent turns on the daily package lists and unattended
// upgrades; Debian's 50unattended-upgrades keeps them to security updates.
func autoUpgradesContent() string {
	return `// Written by stackctl setup: daily security updates.
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
`
}

// Firewall is the inbound policy of one host.
type Firewall struct {
	// SSHPort is the port sshd answered setup on.
	SSHPort int
	// HTTPFrom limits port 80 to these addresses (an app host behind an
	// lb); empty opens 80 and 443 to all.
	HTTPFrom []string
	// ServicePorts are the ports of [services] this host runs for the
	// other app hosts (5432, 6379), open to ServicesFrom only.
	ServicePorts []int
	ServicesFrom []string
	// NoWeb keeps 80 and 443 closed: a host that runs only services.
	NoWeb bool
}

// Ruleset is the nftables script of f: one table of stackctl's own
// (inet stackctl), replaced as a whole in one transaction, so other
// tables (Docker's, the provider's) are left alone. Inbound: what was
// asked for, replies to this host's own connections, loopback and ICMP;
// everything else is dropped.
func (f Firewall) Ruleset() (string, error) {
	if f.SSHPort <= 0 || f.SSHPort > 65535 {
		return "", fmt.Errorf("ssh port %d is out of range", f.SSHPort)
	}
	var web []string
	if len(f.HTTPFrom) == 0 && !f.NoWeb {
		web = append(web, "\t\ttcp dport { 80, 443 } accept")
	}
	from := func(addrs []string, what, ports string) error {
		for _, a := range addrs {
			ip, err := netip.ParseAddr(a)
			if err != nil {
				return fmt.Errorf("%s address %q is not an IP address", what, a)
			}
			fam := "ip"
			if ip.Is6() && !ip.Is4In6() {
				fam = "ip6"
			}
			web = append(web, fmt.Sprintf("\t\t%s saddr %s tcp dport %s accept", fam, ip.Unmap(), ports))
		}
		return nil
	}
	if err := from(f.HTTPFrom, "lb", "80"); err != nil {
		return "", err
	}
	if len(f.ServicePorts) > 0 {
		var ports []string
		for _, p := range f.ServicePorts {
			if p <= 0 || p > 65535 {
				return "", fmt.Errorf("service port %d is out of range", p)
			}
			ports = append(ports, strconv.Itoa(p))
		}
		if err := from(f.ServicesFrom, "app host", "{ "+strings.Join(ports, ", ")+" }"); err != nil {
			return "", err
		}
	}
	return `# Written by stackctl setup; loaded by ` + firewallService + `.
# Inbound: ssh, the web ports, the services for the other app hosts,
# replies, loopback and ICMP; the rest is dropped.
table inet stackctl
delete table inet stackctl
table inet stackctl {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		ct state invalid drop
		iif "lo" accept
		# ICMP and ICMPv6 (by number: minimal systems lack /etc/protocols)
		meta l4proto { 1, 58 } accept
		tcp dport ` + strconv.Itoa(f.SSHPort) + ` accept
` + strings.Join(web, "\n") + `
	}
}
`, nil
}

// firewallUnitContent loads the ruleset at boot, before the network is up,
// as Debian's nftables.service does, and removes only its own table when
// stopped.
func firewallUnitContent() string {
	return `# Written by stackctl setup.
[Unit]
Description=stackctl firewall (nftables table inet stackctl)
Wants=network-pre.target
Before=network-pre.target shutdown.target
Conflicts=shutdown.target
DefaultDependencies=no

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/nft -f ` + firewallRules + `
ExecReload=/usr/sbin/nft -f ` + firewallRules + `
ExecStop=/usr/sbin/nft delete table inet stackctl

[Install]
WantedBy=sysinit.target
`
}

// readScript prints the file $1 and exits 0, or exits 3 when it does not
// exist.
const readScript = `[ -f "$1" ] || exit 3
exec cat -- "$1"`

// installScript makes $1 (mode $2) hold stdin: written beside it, checked
// with the command after $3 when one is given ("{}" is the new file), the
// old file copied to the backup folder $3, then renamed into place. A
// refused file is removed and the check's output printed; exit 4.
const installScript = `set -eu
p=$1; mode=$2; backup=$3; shift 3
(umask 022; mkdir -p "$(dirname "$p")")
umask 077
tmp="$p.stackctl-new"
cat >"$tmp"
chmod "$mode" "$tmp"
if [ $# -gt 0 ]; then
	n=$#
	for a in "$@"; do
		[ "$a" = "{}" ] && a=$tmp
		set -- "$@" "$a"
	done
	shift "$n"
	if ! out=$("$@" 2>&1); then
		rm -f "$tmp"
		printf '%s\n' "$out"
		exit 4
	fi
fi
if [ -e "$p" ]; then
	mkdir -p "$backup$(dirname "$p")"
	cp -a "$p" "$backup$p"
fi
mv -f "$tmp" "$p"
`

// restoreScript puts $1 back as the backup folder $2 holds it, or removes
// it when the backup has none (it did not exist before).
const restoreScript = `set -eu
if [ -e "$2$1" ]; then cp -a "$2$1" "$1"; else rm -f "$1"; fi
`

// packagesScript prints the packages of its arguments that are not
// installed, one per line.
const packagesScript = `for p in "$@"; do
	s=$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null) || s=
	[ "$s" = installed ] || echo "$p"
done
`

// aptScript installs its arguments from the host's package sources, never
// asking a question; apt-get's output is printed only when it fails. A
// dpkg run cut short before (an interrupted setup) is finished first.
const aptScript = `set -u
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if dpkg --configure -a --force-confold >"$log" 2>&1 &&
	apt-get update -q >>"$log" 2>&1 &&
	apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold "$@" >>"$log" 2>&1; then
	rm -f "$log"
	exit 0
fi
tail -n 15 "$log"
rm -f "$log"
exit 1
`

// userScript reports the login user $1 and its key $2: "user=yes|no",
// "key=yes|no", "shell=…".
const userScript = `set -u
if ent=$(getent passwd "$1"); then
	echo user=yes
	home=$(echo "$ent" | cut -d: -f6)
	echo "shell=$(echo "$ent" | cut -d: -f7)"
	if [ -f "$home/.ssh/authorized_keys" ] && grep -qxF -- "$2" "$home/.ssh/authorized_keys"; then
		echo key=yes
	else
		echo key=no
	fi
else
	echo user=no
	echo key=no
fi
`

// addUserScript creates the login user $1 when missing (a home, bash) and
// adds the key $2 to its authorized_keys.
const addUserScript = `set -eu
getent passwd "$1" >/dev/null || useradd --create-home --shell /bin/bash --comment "stackctl deploys" "$1"
home=$(getent passwd "$1" | cut -d: -f6)
group=$(id -gn "$1")
install -d -m 0700 -o "$1" -g "$group" "$home/.ssh"
f=$home/.ssh/authorized_keys
[ -f "$f" ] || install -m 0600 -o "$1" -g "$group" /dev/null "$f"
grep -qxF -- "$2" "$f" || printf '%s\n' "$2" >>"$f"
chown "$1:$group" "$f"
chmod 0600 "$f"
`

// firewallStateScript reports the firewall: "active=…", "enabled=…" and
// "drift=yes|no" (the live table differs from what setup last loaded).
const firewallStateScript = `set -u
echo "active=$(systemctl is-active ` + firewallService + ` 2>/dev/null)"
echo "enabled=$(systemctl is-enabled ` + firewallService + ` 2>/dev/null)"
if nft list table inet stackctl 2>/dev/null | cmp -s - ` + firewallList + `; then echo drift=no; else echo drift=yes; fi
`

// firewallApplyScript loads the ruleset and records the live table.
const firewallApplyScript = `set -eu
systemctl daemon-reload
systemctl enable --quiet ` + firewallService + `
systemctl restart ` + firewallService + `
mkdir -p ` + stateDir + `
nft list table inet stackctl >` + firewallList + `.new
mv -f ` + firewallList + `.new ` + firewallList + `
`

// sshdEffectiveScript prints sshd's effective password and root settings.
const sshdEffectiveScript = `sshd -T 2>&1 | grep -Ei '^(passwordauthentication|kbdinteractiveauthentication|permitrootlogin) '`

// sshdReloadScript checks the whole sshd configuration, then reloads sshd
// (Debian and Ubuntu call it ssh.service); exit 4 when it is refused.
const sshdReloadScript = `set -u
if ! out=$(sshd -t 2>&1); then printf '%s\n' "$out"; exit 4; fi
systemctl reload ssh.service 2>/dev/null || systemctl reload sshd.service
`
