package deploy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// Services beside the app (DEPLOY.md "Services: a database beside the
// app"): Debian's PostgreSQL and Redis on an app host, installed when
// missing, with a role and a database (a Redis user) per app and a
// password generated on that host. The password never leaves the servers
// but in the environment file each app host's units load,
// /etc/stackctl/<name>/services.env (0600 root), which deploy writes over
// SSH's stdin: never on a command line, in output or in a log.

// ServicesEnv is the environment file holding DATABASE_URL and REDIS_URL.
func (l HostLayout) ServicesEnv() string { return path.Join(l.EtcDir, "services.env") }

// passwordFile is where the service host keeps the password of service.
func (l HostLayout) passwordFile(service string) string {
	return path.Join(l.EtcDir, service+".password")
}

// genPassword defines gen_password FILE: the password in FILE (0600),
// made once from the kernel's random bytes (letters and digits only, so
// it needs no quoting in a URL, SQL or a config file).
const genPassword = `gen_password() {
	if [ ! -s "$1" ]; then
		mkdir -p "$(dirname "$1")"
		( umask 077; head -c 64 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32 >"$1.new" && mv -f "$1.new" "$1" )
	fi
}
`

// aptInstall defines apt_install PKG…: installs what is missing, quietly
// (the log only when apt-get fails).
const aptInstall = `apt_install() {
	missing=""
	for p in "$@"; do
		s=$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null) || s=
		[ "$s" = installed ] || missing="$missing $p"
	done
	[ -n "$missing" ] || return 0
	log=$(mktemp)
	if ! { DEBIAN_FRONTEND=noninteractive apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold $missing; } >"$log" 2>&1; then
		tail -n 15 "$log"; rm -f "$log"
		echo "apt-get install$missing failed" >&2
		return 1
	fi
	rm -f "$log"
	echo "installed=$missing"
}
`

// postgresScript makes PostgreSQL serve the app: $1 is the role and the
// database (the app's name), $2 the password file, $3 the address to
// listen on besides 127.0.0.1 ("" for none: one app host), then the addresses of the
// other app hosts, allowed in pg_hba.conf with scram-sha-256. It prints
// "version=", "installed=" when it installed, and last "ok=1".
const postgresScript = genPassword + aptInstall + `set -eu
cd /
# One service script at a time on this host: two apps' deploys share
# its PostgreSQL, Redis and apt.
exec 9>/run/lock/stackctl-services.lock
flock 9
name=$1; pwfile=$2; listen=$3; shift 3
apt_install postgresql
ver=$(ls /etc/postgresql | sort -n | tail -n 1)
conf=/etc/postgresql/$ver/main
# Addresses, not "localhost": a name that fails to resolve would keep
# PostgreSQL from starting at all.
lconf="listen_addresses = '127.0.0.1${listen:+,$listen}'"
if [ "$(cat "$conf/conf.d/stackctl.conf" 2>/dev/null)" != "$lconf" ]; then
	echo "$lconf" >"$conf/conf.d/stackctl.conf"
	systemctl restart "postgresql@$ver-main"
fi
systemctl enable --quiet --now "postgresql@$ver-main"
gen_password "$pwfile"
pass=$(cat "$pwfile")
{
	printf '\\set name %s\n' "$name"
	printf "\\\\set pass '%s'\n" "$pass"
	cat <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'name') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'name') \gexec
ALTER ROLE :"name" WITH LOGIN PASSWORD :'pass';
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'name') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'name') \gexec
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
} | runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -d postgres >/dev/null
hba=$conf/pg_hba.conf
want=$(mktemp)
sed "/^# stackctl $name begin/,/^# stackctl $name end/d" "$hba" >"$want"
if [ -n "$listen" ]; then
	{
		echo "# stackctl $name begin: the app hosts (stackctl deploy)"
		for a in "$@"; do
			case $a in *:*) echo "host $name $name $a/128 scram-sha-256" ;; *) echo "host $name $name $a/32 scram-sha-256" ;; esac
		done
		echo "# stackctl $name end"
	} >>"$want"
fi
if ! cmp -s "$want" "$hba"; then
	cat "$want" >"$hba"
	runuser -u postgres -- psql -qAt -c 'SELECT pg_reload_conf()' >/dev/null
fi
rm -f "$want"
echo "version=$ver"
echo "ok=1"
`

// redisScript makes Redis serve the app: $1 is the app's Redis user, $2
// the password file, $3 the address to listen on besides localhost. The
// default user is turned off, so every client needs a user and its
// password; the app's user's password is in its config as a SHA-256 only.
const redisScript = genPassword + aptInstall + `set -eu
# One service script at a time on this host: two apps' deploys share
# its PostgreSQL, Redis and apt.
exec 9>/run/lock/stackctl-services.lock
flock 9
name=$1; pwfile=$2; listen=$3
apt_install redis-server
gen_password "$pwfile"
hash=$(sha256sum <"$pwfile" | cut -d' ' -f1)
inc=/etc/redis/stackctl.conf
grep -qxF "include $inc" /etc/redis/redis.conf || echo "include $inc" >>/etc/redis/redis.conf
want=$(mktemp)
{
	echo "# written by stackctl deploy: the apps' users; no user without a password"
	echo "user default off"
	if [ -f "$inc" ]; then grep '^user ' "$inc" | grep -v '^user default ' | grep -v "^user $name " || true; fi
	echo "user $name on #$hash ~* &* +@all"
	if [ -n "$listen" ]; then echo "bind 127.0.0.1 -::1 $listen"; else grep '^bind ' "$inc" 2>/dev/null || true; fi
} >"$want"
if ! cmp -s "$want" "$inc"; then
	install -m 0640 -o redis -g redis "$want" "$inc"
	systemctl restart redis-server
fi
rm -f "$want"
systemctl enable --quiet --now redis-server
echo "version=$(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p')"
echo "ok=1"
`

// serviceRun is one service on its host, as the deploy found it.
type serviceRun struct {
	name    string // "postgres", "redis"
	r       *hostRun
	version string
	envKey  string // DATABASE_URL, REDIS_URL
}

// serviceHost is the host s runs on: the app host deploy.hosts names, a
// host of its own (ServiceHosts), else the first app host.
func (f *fleet) serviceHost(s stack.Service) host.Host {
	if h := f.ServiceHosts[s.Host]; h != nil && s.OwnHost(f.c) {
		return h
	}
	for i, d := range f.c.Deploy.Hosts {
		if d == s.Host && i < len(f.Hosts) {
			return f.Hosts[i]
		}
	}
	return f.Hosts[0]
}

// ownServiceHosts are the connected hosts of their own that run services,
// in the order of stack.Config.ServiceHosts.
func (f *fleet) ownServiceHosts() []host.Host {
	var hs []host.Host
	for _, d := range f.c.ServiceHosts() {
		if h := f.ServiceHosts[d]; h != nil {
			hs = append(hs, h)
		}
	}
	return hs
}

// checkServiceHosts says which host of its own [services] names was not
// connected (a caller's mistake: cmd dials them with the app hosts).
func (f *fleet) checkServiceHosts() error {
	for _, d := range f.c.ServiceHosts() {
		if f.ServiceHosts[d] == nil {
			return fmt.Errorf("deploy: the services' host %s is not connected", d)
		}
	}
	return nil
}

// servicesHost is the run of the host service runs on: an app host's, or
// one of a host of its own, made once.
func (d *rollout) servicesHost(s stack.Service) *hostRun {
	h := d.f.serviceHost(s)
	for _, r := range append(d.runs, d.svcRuns...) {
		if r.h == h {
			return r
		}
	}
	r := &hostRun{fleet: d.f, h: h}
	d.svcRuns = append(d.svcRuns, r)
	return r
}

// services makes every service of [services] run and writes each app
// host's services.env.
func (d *rollout) services(ctx context.Context) error {
	c := d.f.c
	if !c.Services.Any() {
		return nil
	}
	env := map[*hostRun][]string{}
	for _, x := range []struct {
		name, key, script string
		s                 stack.Service
	}{
		{"postgres", "DATABASE_URL", postgresScript, c.Services.Postgres},
		{"redis", "REDIS_URL", redisScript, c.Services.Redis},
	} {
		if !x.s.Enabled {
			continue
		}
		start := time.Now()
		sr := d.servicesHost(x.s)
		sr.step(sr.h, "%s: install, role and database for %s", x.name, c.Name)
		listen, clients := "", []string(nil)
		for _, r := range d.runs {
			if r != sr {
				clients = append(clients, addrOf(c, r.h))
				listen = addrOf(c, sr.h)
			}
		}
		args := append([]string{"sh", "-c", x.script, "stackctl", c.Name, sr.l.passwordFile(x.name), listen}, clients...)
		out, err := host.Output(ctx, sr.h, true, args...)
		if err != nil || !strings.Contains(out, "ok=1") {
			return ui.WithFix(fmt.Errorf("%s: %s: %s: %v", sr.h.Name(), x.name, strings.TrimSpace(out), err),
				"nothing of the app changed; see the message, fix the host, and deploy again")
		}
		facts := keyValues(out)
		pw, err := readHostFiles(ctx, sr.h, sr.l.passwordFile(x.name))
		if err != nil {
			return err
		}
		pass := strings.TrimSpace(string(pw[sr.l.passwordFile(x.name)].Data))
		for _, r := range d.runs {
			addr := "127.0.0.1"
			if r != sr {
				addr = addrOf(c, sr.h)
			}
			env[r] = append(env[r], x.key+"="+serviceURL(x.name, c.Name, pass, addr))
		}
		what := "installed " + strings.TrimSpace(facts["installed"]) + ", "
		if facts["installed"] == "" {
			what = ""
		}
		made := "role and database " + c.Name
		if x.name == "redis" {
			made = "user " + c.Name
		}
		if x.name == "postgres" {
			if err := sr.installDBBackupTimer(ctx); err != nil {
				return err
			}
			made += ", daily backup"
		}
		sr.say(sr.h, "%s %s %s: %s%s, %s set %s", d.f.p.Green("✓"), x.name, facts["version"], what, made, x.key, since(start))
	}
	if err := d.serviceClients(ctx); err != nil {
		return err
	}
	for _, r := range d.runs {
		data := []byte("# written by stackctl deploy: the app's services ([services])\n" + strings.Join(env[r], "\n") + "\n")
		want := HostFile{Path: r.l.ServicesEnv(), Exists: true, Data: data, Mode: 0o600}
		have, err := readHostFiles(ctx, r.h, want.Path)
		if err != nil {
			return err
		}
		if !have[want.Path].same(want) {
			if err := writeHostFiles(ctx, r.h, r.l.StateDir, "", []HostFile{want}); err != nil {
				return err
			}
		}
	}
	return nil
}

// serviceClients installs Debian's Python clients of the services
// (psycopg2, redis) on every app host of a Python app: its virtualenv sees
// the system's packages, and nothing needs building from source.
func (d *rollout) serviceClients(ctx context.Context) error {
	c := d.f.c
	if !stack.IsPython(c.App.Template) {
		return nil
	}
	var pkgs []string
	if c.Services.Postgres.Enabled {
		pkgs = append(pkgs, "python3-psycopg2")
	}
	if c.Services.Redis.Enabled {
		pkgs = append(pkgs, "python3-redis")
	}
	errs := parallel(d.runs, func(r *hostRun) error {
		out, err := host.Output(ctx, r.h, true, append([]string{"sh", "-c", aptInstall + `set -eu; apt_install "$@"`, "stackctl"}, pkgs...)...)
		if err != nil {
			return fmt.Errorf("%s: install %s: %s: %w", r.h.Name(), strings.Join(pkgs, " "), strings.TrimSpace(out), err)
		}
		if v := keyValues(out)["installed"]; v != "" {
			r.say(r.h, "%s installed%s", d.f.p.Green("✓"), v)
		}
		return nil
	})
	return errors.Join(errs...)
}

// serviceURL is the URL the app reaches service at.
func serviceURL(service, name, pass, addr string) string {
	hostPort := net.JoinHostPort(addr, map[string]string{"postgres": "5432", "redis": "6379"}[service])
	if service == "redis" {
		return "redis://" + name + ":" + pass + "@" + hostPort + "/0"
	}
	return "postgresql://" + name + ":" + pass + "@" + hostPort + "/" + name
}

// keyValues reads key=value lines.
func keyValues(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			m[k] = v
		}
	}
	return m
}

// BackupsDir is where the database backups of the app are kept.
func (l HostLayout) BackupsDir() string { return path.Join(l.StateDir, "backups", "db") }

// backupScript dumps database $1 (pg_dump -Fc, as postgres) into folder
// $2 as <UTC time>-<label $3>.dump, written under a temporary name first,
// then keeps the newest $4. It prints the new file's name.
const backupScript = `set -eu
cd /
db=$1; dir=$2; label=$3; keep=$4
mkdir -p "$dir"; chmod 0700 "$dir"
f="$(date -u +%Y%m%dT%H%M%SZ)-$label.dump"
runuser -u postgres -- pg_dump -Fc "$db" >"$dir/.$f.tmp"
mv -f "$dir/.$f.tmp" "$dir/$f"
ls -1 "$dir" | grep '\.dump$' | sort -r | tail -n +$((keep + 1)) | while IFS= read -r old; do rm -f "$dir/$old"; done
echo "$f"
`

// listBackupsScript prints "NAME SIZE" for each backup in $1, oldest first.
const listBackupsScript = `set -eu
[ -d "$1" ] || exit 0
cd "$1"
for f in $(ls -1 | grep '\.dump$' | sort); do echo "$f $(stat -c %s "$f")"; done
`

// restoreScript restores backup $3 of folder $2 into database $1, as the
// app's role $1 owns it: every object the dump holds is dropped and made
// again (pg_restore --clean --if-exists), in one transaction.
const restoreScript = `set -eu
cd /
db=$1; dir=$2; f=$3
[ -f "$dir/$f" ] || { echo "no backup $f in $dir"; exit 3; }
runuser -u postgres -- pg_restore --clean --if-exists --no-owner --role="$db" --single-transaction -d "$db" <"$dir/$f"
`

// Backup is one database backup on the host.
type Backup struct {
	Host string `json:"host"`
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// dbHost is the fleet's host that runs PostgreSQL, or an error saying
// that stack.toml has none.
func dbHost(f *fleet) (*hostRun, error) {
	if !f.c.Services.Postgres.Enabled {
		return nil, ui.Usagef("add [services] postgres = true to "+f.c.Path+" and deploy", "%s has no database: [services] postgres is off", f.c.Name)
	}
	return &hostRun{fleet: f, h: f.serviceHost(f.c.Services.Postgres)}, nil
}

// backup takes a backup of the app's database on r, labelled label.
func (r *hostRun) backup(ctx context.Context, label string) (string, error) {
	out, err := host.Output(ctx, r.h, true, "sh", "-c", backupScript, "stackctl", r.c.Name, r.l.BackupsDir(), label, fmt.Sprint(r.c.Services.Backups))
	if err != nil {
		return "", fmt.Errorf("%s: pg_dump %s: %s: %w", r.h.Name(), r.c.Name, strings.TrimSpace(out), err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return strings.TrimSpace(lines[len(lines)-1]), nil
}

// BackupDB takes a backup of the app's database now and returns its name.
func BackupDB(ctx context.Context, o HostsOptions) (string, error) {
	f, err := newReadOnlyFleet(o)
	if err != nil {
		return "", err
	}
	r, err := dbHost(f)
	if err != nil {
		return "", err
	}
	start := time.Now()
	name, err := r.backup(ctx, "manual")
	if err != nil {
		return "", err
	}
	fmt.Fprintf(o.Out, "%s %s: backup %s %s\n", f.p.Green("✓"), r.h.Name(), name, since(start))
	return name, nil
}

// ListBackups lists the app's database backups, oldest first.
func ListBackups(ctx context.Context, o HostsOptions) ([]Backup, error) {
	f, err := newReadOnlyFleet(o)
	if err != nil {
		return nil, err
	}
	r, err := dbHost(f)
	if err != nil {
		return nil, err
	}
	out, err := host.Output(ctx, r.h, true, "sh", "-c", listBackupsScript, "stackctl", r.l.BackupsDir())
	if err != nil {
		return nil, fmt.Errorf("%s: list backups: %s: %w", r.h.Name(), strings.TrimSpace(out), err)
	}
	var list []Backup
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var b Backup
		if _, err := fmt.Sscanf(line, "%s %d", &b.Name, &b.Size); err == nil {
			b.Host = r.h.Name()
			list = append(list, b)
		}
	}
	return list, nil
}

// RestoreDB restores backup (the newest when "") into the app's database:
// the processes and schedules stop first and start again after, so no
// worker writes into a database being replaced.
func RestoreDB(ctx context.Context, o HostsOptions, backup string) error {
	f, err := newFleet(o)
	if err != nil {
		return err
	}
	r, err := dbHost(f)
	if err != nil {
		return err
	}
	if backup == "" {
		list, err := ListBackups(ctx, o)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			return ui.WithFix(fmt.Errorf("%s: no backup of %s yet", r.h.Name(), f.c.Name), "take one with 'stackctl db backup'")
		}
		backup = list[len(list)-1].Name
	}
	if strings.ContainsAny(backup, "/ \n") || !strings.HasSuffix(backup, ".dump") {
		return ui.Usagef("name a backup as 'stackctl db backups' lists it", "%q is not a backup name", backup)
	}
	runs := make([]*hostRun, len(f.Hosts))
	for i, h := range f.Hosts {
		runs[i] = &hostRun{fleet: f, h: h}
	}
	unlock, err := f.lockAll(ctx, runs, "db restore")
	defer unlock()
	if err != nil {
		return err
	}
	for _, x := range runs {
		if err := x.probe(ctx); err != nil {
			return err
		}
	}
	start := time.Now()
	// The processes of every host stop (each finishing its job in hand);
	// the schedules' timers too.
	for _, x := range runs {
		if out, err := host.Output(ctx, x.h, true, "sh", "-c", stopAllProcessesScript, "stackctl", x.l.Service, unitDir); err != nil {
			return fmt.Errorf("%s: stop the processes: %s: %w", x.h.Name(), strings.TrimSpace(out), err)
		}
	}
	out, rerr := host.Output(ctx, r.h, true, "sh", "-c", restoreScript, "stackctl", f.c.Name, r.l.BackupsDir(), backup)
	for _, x := range runs {
		if err := x.syncProcesses(context.WithoutCancel(ctx), x.state.Current); err != nil {
			rerr = errors.Join(rerr, err)
		}
	}
	if rerr != nil {
		return fmt.Errorf("%s: restore %s: %s: %w", r.h.Name(), backup, strings.TrimSpace(out), rerr)
	}
	fmt.Fprintf(o.Out, "%s %s: restored %s into database %s %s\n", f.p.Green("✓"), r.h.Name(), backup, f.c.Name, since(start))
	return nil
}

// stopAllProcessesScript stops every process copy and schedule timer of
// the app $1 (its own units in $2); processesScript starts them again.
const stopAllProcessesScript = `set -u
svc=$1; dir=$2; units=""
for f in $(grep -l -x -F "X-Stackctl-App=$svc" "$dir/$svc"-* 2>/dev/null || true); do
	b=${f##*/}
	case $b in
	*@.service) units="$units $(systemctl list-units --plain --no-legend --full "${b%@.service}@*.service" | awk '{print $1}')" ;;
	*.timer) units="$units $b ${b%.timer}.service" ;;
	esac
done
[ -z "$(echo $units)" ] || systemctl stop $units
exit 0
`

// PullBackup reads backup (the newest when "") from the database's host.
func PullBackup(ctx context.Context, o HostsOptions, backup string) (string, []byte, error) {
	f, err := newReadOnlyFleet(o)
	if err != nil {
		return "", nil, err
	}
	r, err := dbHost(f)
	if err != nil {
		return "", nil, err
	}
	if backup == "" {
		list, err := ListBackups(ctx, o)
		if err != nil {
			return "", nil, err
		}
		if len(list) == 0 {
			return "", nil, ui.WithFix(fmt.Errorf("%s: no backup of %s yet", r.h.Name(), f.c.Name), "take one with 'stackctl db backup'")
		}
		backup = list[len(list)-1].Name
	}
	if strings.ContainsAny(backup, "/ \n") || !strings.HasSuffix(backup, ".dump") {
		return "", nil, ui.Usagef("name a backup as 'stackctl db backups' lists it", "%q is not a backup name", backup)
	}
	p := path.Join(r.l.BackupsDir(), backup)
	files, err := readHostFiles(ctx, r.h, p)
	if err != nil {
		return "", nil, err
	}
	if !files[p].Exists {
		return "", nil, ui.WithFix(fmt.Errorf("%s: no backup %s", r.h.Name(), backup), "see 'stackctl db backups'")
	}
	return backup, files[p].Data, nil
}

// dbBackupFiles are the daily backup of the app's database on its host:
// the backup script (root only), a oneshot service that runs it and a
// timer (daily, Persistent: a day missed while the host was down runs at
// boot).
func dbBackupFiles(c *stack.Config, l HostLayout) []HostFile {
	script := path.Join(l.EtcDir, "db-backup.sh")
	unit := l.Service + "-db-backup"
	service := fmt.Sprintf(`# %s.service: the daily backup of %s's database, written by stackctl deploy.
[Unit]
Description=%s database backup (stackctl)
After=postgresql.service
X-Stackctl-Service=%s

[Service]
Type=oneshot
ExecStart=/bin/sh %s %s %s daily %d
`, unit, c.Name, c.Name, l.Service, script, systemdArg(c.Name), systemdArg(l.BackupsDir()), c.Services.Backups)
	timer := fmt.Sprintf(`# %s.timer: when the database of %s is backed up, written by stackctl deploy.
[Unit]
Description=%s database backup, daily (stackctl)
X-Stackctl-Service=%s

[Timer]
OnCalendar=*-*-* 03:00:00
RandomizedDelaySec=30m
Persistent=true

[Install]
WantedBy=timers.target
`, unit, c.Name, c.Name, l.Service)
	return []HostFile{
		{Path: script, Exists: true, Data: []byte("# the backup of stackctl db backup; written by stackctl deploy\n" + backupScript), Mode: 0o700},
		{Path: path.Join(unitDir, unit+".service"), Exists: true, Data: []byte(service), Mode: 0o644},
		{Path: path.Join(unitDir, unit+".timer"), Exists: true, Data: []byte(timer), Mode: 0o644},
	}
}

// installDBBackupTimer writes the daily backup's files on r when they
// changed and turns the timer on.
func (r *hostRun) installDBBackupTimer(ctx context.Context) error {
	want := dbBackupFiles(r.c, r.l)
	paths := make([]string, len(want))
	for i, w := range want {
		paths[i] = w.Path
	}
	have, err := readHostFiles(ctx, r.h, paths...)
	if err != nil {
		return err
	}
	changed := changedFiles(want, have)
	if err := writeHostFiles(ctx, r.h, r.l.StateDir, "", changed); err != nil {
		return err
	}
	timer := r.l.Service + "-db-backup.timer"
	script := "systemctl daemon-reload && systemctl enable --quiet --now \"$1\""
	if len(changed) == 0 {
		script = "systemctl is-enabled --quiet \"$1\" || systemctl enable --quiet --now \"$1\""
	}
	if out, err := host.Output(ctx, r.h, true, "sh", "-c", script, "stackctl", timer); err != nil {
		return fmt.Errorf("%s: turn on %s: %s: %w", r.h.Name(), timer, strings.TrimSpace(out), err)
	}
	return nil
}

// ServiceStatus is a service of [services] on the host that runs it.
type ServiceStatus struct {
	Name    string `json:"name"`
	State   string `json:"state"`
	Version string `json:"version,omitempty"`
	// Size is the app's database size in bytes (PostgreSQL).
	Size int64 `json:"size,omitempty"`
	// LastBackup is the newest backup's name (PostgreSQL; "" for none).
	LastBackup string `json:"last_backup,omitempty"`
}

// servicesStatusScript prints the state of the app's ($1) services on
// this host: "postgres STATE VERSION SIZE" when $2=1, the newest backup
// in $3, "redis STATE VERSION" when $4=1.
const servicesStatusScript = `set -u
cd /
if [ "$2" = 1 ]; then
	ver=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -n 1)
	st=$(systemctl is-active "postgresql@$ver-main" 2>/dev/null || true)
	size=$(runuser -u postgres -- psql -qAt -c "SELECT pg_database_size('$1')" 2>/dev/null || echo 0)
	echo "postgres ${st:-unknown} ${ver:--} ${size:-0}"
	echo "backup $(ls -1 "$3" 2>/dev/null | grep '\.dump$' | sort | tail -n 1)"
fi
if [ "$4" = 1 ]; then
	st=$(systemctl is-active redis-server 2>/dev/null || true)
	ver=$(redis-server --version 2>/dev/null | sed -n 's/.*v=\([0-9.]*\).*/\1/p')
	echo "redis ${st:-unknown} ${ver:--}"
fi
exit 0
`

// servicesStatus reads the services r's host runs for the app.
func (r *hostRun) servicesStatus(ctx context.Context, pg, redis bool) ([]ServiceStatus, error) {
	if !pg && !redis {
		return nil, nil
	}
	b := map[bool]string{true: "1", false: "0"}
	out, err := host.Output(ctx, r.h, true, "sh", "-c", servicesStatusScript, "stackctl", r.c.Name, b[pg], r.l.BackupsDir(), b[redis])
	if err != nil {
		return nil, fmt.Errorf("%s: read the services: %w", r.h.Name(), err)
	}
	var list []ServiceStatus
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && (f[0] == "postgres" || f[0] == "redis"):
			s := ServiceStatus{Name: f[0], State: f[1], Version: f[2]}
			if len(f) > 3 {
				fmt.Sscan(f[3], &s.Size)
			}
			list = append(list, s)
		case len(f) == 2 && f[0] == "backup" && len(list) > 0:
			list[len(list)-1].LastBackup = f[1]
		}
	}
	return list, nil
}

// runsService reports whether h is the host that runs s.
func runsService(f *fleet, h host.Host, s stack.Service) bool {
	return s.Enabled && len(f.Hosts) > 0 && f.serviceHost(s) == h
}

// RollbackWithDB rolls back (to target, or each host's previous release)
// and then restores the database backup deploy took before the current
// release's release_command: a bad migration undone with its release.
// Without such a backup nothing changes.
func RollbackWithDB(ctx context.Context, o HostsOptions, target string) error {
	f, err := newReadOnlyFleet(o)
	if err != nil {
		return err
	}
	r, err := dbHost(f)
	if err != nil {
		return err
	}
	// The current release is the app's, read on the first app host (the
	// database's host may be a host of its own, with no releases).
	app := &hostRun{fleet: f, h: f.Hosts[0]}
	if err := app.probe(ctx); err != nil {
		return err
	}
	current := app.state.Current
	list, err := ListBackups(ctx, o)
	if err != nil {
		return err
	}
	backup := ""
	for _, b := range list {
		if strings.HasSuffix(b.Name, "-before-"+current+".dump") {
			backup = b.Name
		}
	}
	if current == "" || backup == "" {
		return ui.WithFix(fmt.Errorf("%s: no backup was taken before release %s's release_command: nothing changed", r.h.Name(), orUnknown(current)),
			"roll back without --restore-db, then 'stackctl db restore BACKUP' with one 'stackctl db backups' lists")
	}
	if err := RollbackHosts(ctx, o, target); err != nil {
		return err
	}
	return RestoreDB(ctx, o, backup)
}

// dbShellScript opens psql on the database's host as the app's role $2,
// over 127.0.0.1 with the password of file $1 in its environment (never
// on a command line) and no history file.
const dbShellScript = `set -eu
cd /
PGPASSWORD=$(cat "$1") PSQL_HISTORY=/dev/null exec psql -h 127.0.0.1 -U "$2" -d "$2"
`

// DBShell opens psql as the app's role on the host of its own that runs
// PostgreSQL (the app hosts' 'stackctl exec' has no psql there). A psql
// that exits non-zero returns an *ExitStatusError.
func DBShell(ctx context.Context, o ExecOptions) error {
	f, err := newReadOnlyFleet(o.HostsOptions)
	if err != nil {
		return err
	}
	r, err := dbHost(f)
	if err != nil {
		return err
	}
	err = r.h.Run(ctx, host.Cmd{Argv: []string{"sh", "-c", dbShellScript, "stackctl", r.l.passwordFile("postgres"), f.c.Name},
		Root: true, Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr, TTY: o.TTY})
	var ee *host.ExitError
	if errors.As(err, &ee) {
		return &ExitStatusError{Host: r.h.Name(), Status: ee.Status}
	}
	return err
}

// ServiceFacts are what `stackctl doctor --host` reads of the [services]
// a host runs for the app.
type ServiceFacts struct {
	// Name is "postgres" or "redis".
	Name string
	// Installed is false when the server's package is missing.
	Installed bool
	// Unit is the systemd unit that runs it, State its is-active.
	Unit, State string
	// Listen are the addresses it listens on (127.0.0.1, 10.0.0.5, ::1,
	// 0.0.0.0, *).
	Listen []string
	// User is true when the app's role (PostgreSQL) or user (Redis)
	// exists.
	User bool
	// BackupAge is the age of the newest backup, -1 when there is none
	// (PostgreSQL); Timer is the daily backup timer's is-enabled.
	BackupAge time.Duration
	Timer     string
	// BackupTimer is the timer's name.
	BackupTimer string
}

// serviceFactsScript prints the facts of the app's ($1) services on this
// host: postgres when $2=1 (backups in $3, the timer $4), redis when $5=1.
const serviceFactsScript = `set -u
cd /
listen() { ss -Hltn "( sport = :$1 )" 2>/dev/null | awk '{a=$4; sub(/:[0-9]+$/, "", a); gsub(/[][]/, "", a); printf "%s ", a}'; }
if [ "$2" = 1 ]; then
	ver=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -n 1)
	if [ -n "$ver" ]; then
		echo "postgres.installed=1"
		echo "postgres.unit=postgresql@$ver-main.service"
		echo "postgres.state=$(systemctl is-active "postgresql@$ver-main" 2>/dev/null)"
		echo "postgres.listen=$(listen 5432)"
		n=$(printf '%s\n' "SELECT count(*) FROM pg_roles WHERE rolname = :'name'" | runuser -u postgres -- psql -qAt -v name="$1" 2>/dev/null)
		echo "postgres.user=${n:-0}"
	fi
	last=$(ls -1t "$3" 2>/dev/null | grep '\.dump$' | head -n 1)
	age=-1
	[ -z "$last" ] || age=$(( $(date +%s) - $(stat -c %Y "$3/$last") ))
	echo "postgres.backup_age=$age"
	echo "postgres.timer=$(systemctl is-enabled "$4" 2>/dev/null)"
fi
if [ "$5" = 1 ]; then
	if command -v redis-server >/dev/null 2>&1; then
		echo "redis.installed=1"
		echo "redis.unit=redis-server.service"
		echo "redis.state=$(systemctl is-active redis-server 2>/dev/null)"
		echo "redis.listen=$(listen 6379)"
		if grep -q "^user $1 on " /etc/redis/stackctl.conf 2>/dev/null; then echo "redis.user=1"; else echo "redis.user=0"; fi
	fi
fi
exit 0
`

// ProbeServices reads the facts of the services of c that h runs:
// postgres and redis say which.
func ProbeServices(ctx context.Context, h host.Host, c *stack.Config, postgres, redis bool) ([]ServiceFacts, error) {
	if !postgres && !redis {
		return nil, nil
	}
	l := NewHostLayout(c)
	b := map[bool]string{true: "1", false: "0"}
	timer := l.Service + "-db-backup.timer"
	out, err := host.Output(ctx, h, true, "sh", "-c", serviceFactsScript, "stackctl", c.Name, b[postgres], l.BackupsDir(), timer, b[redis])
	if err != nil {
		return nil, fmt.Errorf("%s: read the services: %s: %w", h.Name(), strings.TrimSpace(out), err)
	}
	kv := keyValues(out)
	var list []ServiceFacts
	for _, name := range []string{"postgres", "redis"} {
		if (name == "postgres" && !postgres) || (name == "redis" && !redis) {
			continue
		}
		f := ServiceFacts{Name: name, Installed: kv[name+".installed"] == "1", Unit: kv[name+".unit"], State: kv[name+".state"],
			Listen: strings.Fields(kv[name+".listen"]), User: kv[name+".user"] != "" && kv[name+".user"] != "0", Timer: kv[name+".timer"]}
		if name == "postgres" {
			f.BackupTimer = timer
			var secs int64 = -1
			fmt.Sscan(kv["postgres.backup_age"], &secs)
			f.BackupAge = time.Duration(secs) * time.Second
			if secs < 0 {
				f.BackupAge = -1
			}
		}
		list = append(list, f)
	}
	return list, nil
}
