package deploy

import (
	"path"

	"github.com/stackctl/stackctl/internal/stack"
)

// One way to run the app's code on a server (DEPLOY.md "App data survives
// releases"): the slots, release_command and exec all run with the same
// settings — the app's user, the release as working folder, app.env and
// the secrets, the data folder and the hardening. The slots get them as
// lines of their template unit, the others as systemd-run properties, both
// from appSettings.

// unitSetting is one [Service] setting: Key=Value in a unit file, and
// -p Key=Value for systemd-run.
type unitSetting struct{ Key, Value string }

// hardeningSettings confine the app: it reads the system, writes only its
// data folder (/var/lib/<service>, systemd's StateDirectory=, which sets
// $STATE_DIRECTORY) and a private /tmp, and may open network sockets.
func hardeningSettings(service string) []unitSetting {
	return []unitSetting{
		{"NoNewPrivileges", "yes"},
		{"ProtectSystem", "strict"},
		{"StateDirectory", service},
		{"ProtectHome", "yes"},
		{"PrivateTmp", "yes"},
		{"PrivateDevices", "yes"},
		{"ProtectKernelTunables", "yes"},
		{"ProtectKernelModules", "yes"},
		{"ProtectKernelLogs", "yes"},
		{"ProtectControlGroups", "yes"},
		{"ProtectClock", "yes"},
		{"ProtectHostname", "yes"},
		{"ProtectProc", "invisible"},
		{"RestrictNamespaces", "yes"},
		{"RestrictRealtime", "yes"},
		{"RestrictSUIDSGID", "yes"},
		{"LockPersonality", "yes"},
		{"RemoveIPC", "yes"},
		{"CapabilityBoundingSet", ""},
		{"AmbientCapabilities", ""},
		{"RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"},
		{"SystemCallArchitectures", "native"},
		{"SystemCallFilter", "@system-service"},
		{"SystemCallErrorNumber", "EPERM"},
		{"UMask", "0027"},
	}
}

// appPath is the PATH of the app's processes in release folder dir: the
// release's virtualenv and bin/ first.
func appPath(dir string) string {
	return dir + "/.venv/bin:" + dir + "/bin:/usr/local/bin:/usr/bin:/bin"
}

// appSettings are the settings of every process of the app that runs in
// release folder dir (the slots pass their link, slots/%i): deploy.user,
// the release as working folder, app.env and the secrets, PATH (and
// VIRTUAL_ENV for Python) on the release, and the hardening with the data
// folder. asRoot (exec --root) drops the user and the hardening: root
// runs the command as an administrator, not as the app.
func appSettings(c *stack.Config, l HostLayout, dir string, asRoot bool) []unitSetting {
	var s []unitSetting
	if !asRoot {
		s = append(s, unitSetting{"User", c.Deploy.User})
	}
	s = append(s,
		unitSetting{"WorkingDirectory", dir},
		unitSetting{"EnvironmentFile", l.AppEnv()},
		unitSetting{"EnvironmentFile", "-" + l.ServicesEnv()},
		unitSetting{"EnvironmentFile", "-" + l.SecretsFile},
		unitSetting{"Environment", "PATH=" + appPath(dir)},
	)
	if stack.IsPython(c.App.Template) {
		s = append(s, unitSetting{"Environment", "VIRTUAL_ENV=" + dir + "/.venv"})
	}
	if asRoot {
		return append(s, unitSetting{"StateDirectory", l.Service})
	}
	return append(s, hardeningSettings(l.Service)...)
}

// appRunArgv is the systemd-run command that runs argv as the app in
// release id (a transient unit named unit), with appSettings and extra
// environment (KEY=value): release_command and exec. With tty it runs on
// a pseudo terminal, else stdin and stdout are piped through.
func appRunArgv(c *stack.Config, l HostLayout, id, unit string, tty, asRoot bool, env []string, argv []string) []string {
	out := []string{"systemd-run", "--quiet", "--wait", "--collect", "--service-type=exec", "--unit=" + unit}
	if tty {
		out = append(out, "--pty")
	} else {
		out = append(out, "--pipe")
	}
	for _, s := range appSettings(c, l, l.Release(id), asRoot) {
		out = append(out, "-p", s.Key+"="+s.Value)
	}
	for _, e := range append([]string{"STACKCTL_RELEASE=" + id}, env...) {
		out = append(out, "-E", e)
	}
	out = append(out, "--")
	return append(out, argv...)
}

// dataDir is the data folder of the app on a server (StateDirectory=).
func dataDir(l HostLayout) string { return path.Join("/var/lib", l.Service) }
