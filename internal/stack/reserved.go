package stack

import (
	"path"
	"strings"
)

// ReservedServices are deploy.service names a server already uses, or
// stackctl does: the units deploy writes are <service>@.service with
// StateDirectory=<service>, so such a name would take over another
// program's unit or hand its /var/lib/<name> to the app's user. Any name
// starting with "systemd-" is reserved too.
var ReservedServices = []string{
	"apache2", "apt", "autovt", "certbot", "containerd", "cron", "dbus", "docker",
	"getty", "init", "mariadb", "memcached", "mysql", "networking", "nginx",
	"polkit", "postfix", "postgresql", "redis", "redis-server", "rescue", "emergency",
	"root", "rsyslog", "serial-getty", "ssh", "sshd", "stackctl", "sudo", "systemd",
	"udev", "ufw", "user", "user-runtime-dir",
}

// SystemUsers are deploy.user names an app must never run as: root, and
// the users the system and its daemons run as (Debian's base-passwd, and
// the daemons a server with stackctl runs). www-data is nginx's user: an
// app running as it could rewrite what nginx serves for every site.
var SystemUsers = []string{
	"_apt", "backup", "bin", "daemon", "games", "gnats", "irc", "list", "lp", "mail",
	"man", "messagebus", "news", "nginx", "nobody", "polkitd", "postgres", "proxy",
	"redis", "root", "sshd", "sync", "sys", "syslog", "uucp", "www-data",
}

// reservedService says why service must not be deploy.service, or "".
func reservedService(service string) string {
	s := strings.TrimSuffix(service, ".service")
	switch {
	case strings.HasPrefix(s, "systemd-"):
		return "systemd's own units are named systemd-*"
	case oneOf(s, ReservedServices...):
		return "the server or stackctl already has a unit of that name"
	}
	return ""
}

// systemUser says why user must not be deploy.user, or "".
func systemUser(user string) string {
	switch {
	case user == "root":
		return "the app would run with every privilege on the server"
	case strings.HasPrefix(user, "systemd-"):
		return "it is a user of systemd's own services"
	case oneOf(user, SystemUsers...):
		return "the system or one of its daemons runs as that user, so the app would share its files"
	}
	return ""
}

// appDirReserved says why appDir must not be nginx.app_dir for service,
// or "": /var/lib/<service> is the unit's StateDirectory=, which systemd
// hands to the app's user (every file deploy put there as root would
// become the app's), and /var/lib/stackctl and /etc/stackctl hold
// stackctl's own records and the app's secrets.
func appDirReserved(appDir, service string) string {
	s := strings.TrimSuffix(service, ".service")
	for _, dir := range []string{"/var/lib/" + s, "/var/lib/stackctl", "/etc/stackctl"} {
		if within(appDir, dir) {
			why := "stackctl keeps its records and the app's secrets there"
			if dir == "/var/lib/"+s {
				why = "it is the service's StateDirectory=, which systemd gives to deploy.user: the app could rewrite its own release"
			}
			return dir + ": " + why
		}
	}
	return ""
}

// within reports whether p is dir or a path below it.
func within(p, dir string) bool {
	p, dir = path.Clean(p), path.Clean(dir)
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// deployNames checks that deploy.user, deploy.service and nginx.app_dir
// stay clear of what the server and stackctl use (reserved.go).
func (v *validator) deployNames(c *Config) {
	d := c.Deploy
	if why := systemUser(d.User); why != "" && userRE.MatchString(d.User) {
		v.add("deploy.user", "%q must not run the app: %s; give the app a user of its own (deploy.user = %q)", d.User, why, c.Name+"-app")
	}
	if why := reservedService(d.Service); why != "" && serviceRE.MatchString(d.Service) {
		v.add("deploy.service", "%q: %s; choose a name of the app's own (deploy.service = %q)", d.Service, why, c.Name+"-app")
	}
	if why := appDirReserved(c.Nginx.AppDir, d.Service); why != "" && ValidateAbsPath(c.Nginx.AppDir) == nil {
		v.add("nginx.app_dir", "%q is under %s; put the app elsewhere (app_dir = %q)", c.Nginx.AppDir, why, "/srv/"+c.Name)
	}
}
