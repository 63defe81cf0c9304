package doctor

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/deploy"
	"github.com/stackctl/stackctl/internal/setup"
	"github.com/stackctl/stackctl/internal/ui"
)

// Server is the report of `stackctl doctor --host`: what deploy needs on
// a server (systemd as PID 1, nginx, bash, sudo for a login that is not
// root, python3-venv for a Python app), each miss with the apt-get line
// that fixes it. python says whether the project is a Python app (nil
// config: checked, not required).
func Server(name string, p deploy.ServerPrereqs, python *bool) Report {
	d := &doctor{}
	pkg := func(check, pkgName string, ok bool, detail string, required bool) {
		c := Check{Name: check, Required: required, Detail: detail}
		switch {
		case ok:
			c.Status = OK
		case required:
			c.Status = Fail
		default:
			c.Status = Warn
		}
		if !ok {
			c.Fix = "on " + name + " as root: apt-get install " + pkgName
		}
		d.add(c)
	}
	pkg("systemd", "systemd-sysv", p.Systemd, found(p.Systemd, "PID 1 is systemd", "PID 1 is not systemd: deploy runs the app as systemd units"), true)
	nginxDetail := "nginx " + p.NginxVersion
	if !p.Nginx {
		nginxDetail = "not installed"
	}
	pkg("nginx", "nginx", p.Nginx, nginxDetail, true)
	pkg("bash", "bash", p.Bash, found(p.Bash, "installed", "not installed: the health check uses it"), true)
	sudo := Check{Name: "sudo", Required: p.Login != "root"}
	switch {
	case p.Login == "root":
		sudo.Status, sudo.Detail = OK, "not needed: the login user is root"
		if !p.Sudo {
			sudo.Detail += " (sudo is not installed)"
		}
	case p.Sudo:
		sudo.Status, sudo.Detail = OK, p.Login+" runs sudo -n without a password"
	default:
		sudo.Status, sudo.Detail, sudo.Fix = Fail, "not installed", "on "+name+" as root: apt-get install sudo"
	}
	d.add(sudo)
	switch {
	case python == nil:
		pkg("python3-venv", "python3-venv", p.Python3Venv, found(p.Python3Venv, "installed", "not installed (needed by Flask apps)"), false)
	case *python:
		pkg("python3-venv", "python3-venv", p.Python3Venv, found(p.Python3Venv, "installed", "not installed: each release of a Flask app gets a virtualenv"), true)
	default:
		d.add(Check{Name: "python3-venv", Status: Skip, Detail: "not needed by a Go app"})
	}
	return d.report(name)
}

// Unreachable is the report of a server doctor could not log in to: the
// connection's error and its fix (host key, user, sudo password, address).
func Unreachable(name string, err error) Report {
	c := Check{Name: "ssh", Status: Fail, Required: true, Detail: err.Error()}
	var fe *ui.FixError
	if errors.As(err, &fe) {
		c.Detail, c.Fix = fe.Err.Error(), fe.Fix
	}
	c.Detail = strings.TrimPrefix(c.Detail, name+": ")
	d := &doctor{}
	d.add(c)
	return d.report(name)
}

func found(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}

func (d *doctor) report(host string) Report {
	r := Report{OK: true, Host: host, Checks: d.checks}
	for _, c := range d.checks {
		if c.Status == Fail && c.Required {
			r.OK = false
		}
	}
	return r
}

// SetupDrift adds to r what `stackctl setup` would change on the server
// (setup.Audit): each item setup left as it should be is ✓, each that
// drifted (a port opened by hand, password logins back on, a package
// removed) or was never set up is a warning whose fix is setup.
func SetupDrift(r *Report, dest string, hr setup.HostReport) {
	fix := "stackctl setup --host " + dest
	if !hr.SetUp && hr.Err == nil {
		r.Checks = append(r.Checks, Check{Name: "setup", Status: Skip,
			Detail: "never ran here (optional: it installs a firewall, key-only sshd and security updates: " + fix + ")"})
		return
	}
	for _, x := range hr.Results {
		c := Check{Name: "setup: " + x.Item, Detail: x.Detail}
		switch x.Mark {
		case setup.Same:
			c.Status = OK
		default:
			c.Status, c.Fix = Warn, fix
		}
		r.Checks = append(r.Checks, c)
	}
	if hr.Err != nil && (len(hr.Results) == 0 || hr.Results[len(hr.Results)-1].Mark != setup.Failed) {
		r.Checks = append(r.Checks, Check{Name: "setup", Status: Warn, Detail: hr.Err.Error(), Fix: fix})
	}
}

// CertCheck adds to r the site's TLS certificate on the server (cs; nil:
// none there, which is fine on an app host behind an lb): a warning when
// it expires within deploy.CertWarnDays, a failure once it has. ACME says
// whether certbot.timer renews it (deploy got it) or the user does.
func CertCheck(r *Report, cs *deploy.CertStatus, acme bool, now time.Time) {
	c := Check{Name: "TLS certificate"}
	fix := "renew it with 'stackctl certs renew', and check certbot.timer on " + r.Host + " (systemctl list-timers certbot.timer; journalctl -u certbot)"
	if !acme {
		fix = "renew it where you got it and replace nginx.tls.cert and nginx.tls.key on " + r.Host
	}
	switch days := 0; {
	case cs == nil:
		c.Status, c.Detail = Skip, "none here (deploy gets it on the host that terminates TLS: the lb, else each app host)"
	case !now.Before(cs.NotAfter):
		c.Status, c.Detail, c.Fix = Fail, "expired on "+cs.NotAfter.UTC().Format("2006-01-02")+" ("+cs.Issuer+")", fix
	default:
		days = cs.DaysLeft(now)
		c.Detail = fmt.Sprintf("%s: expires %s, in %d days (%s)", strings.Join(cs.Names, ", "), cs.NotAfter.UTC().Format("2006-01-02"), days, cs.Issuer)
		c.Status = OK
		if days < deploy.CertWarnDays {
			c.Status, c.Fix = Warn, fix
		}
	}
	if c.Status == Fail {
		r.OK = false
	}
	r.Checks = append(r.Checks, c)
}
