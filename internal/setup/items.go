package setup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/deploy"
	"github.com/stackctl/stackctl/internal/host"
)

// sshdRestart is how long sshd may take to listen again after a reload.
const sshdRestart = 15 * time.Second

// run is setup on one host: the items in order, each read, then changed
// when it differs. The first failure stops the host's remaining items.
type run struct {
	o      *Options
	t      Target
	backup string
	rep    HostReport
}

func (r *run) items(ctx context.Context) HostReport {
	r.rep.Host = r.t.Host.Name()
	if !r.o.DryRun {
		// Marks the host as set up (doctor --host then audits it).
		if _, err := r.script(ctx, `mkdir -p "$1"`, nil, stateDir); err != nil {
			r.rep.Err = err
			return r.rep
		}
	}
	steps := []func(context.Context) error{
		r.packages,
		r.loginUser,
		r.sudoers,
		r.journal,
		r.upgrades,
		r.firewall,
		r.sshd,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			r.rep.Err = err
			break
		}
	}
	return r.rep
}

func (r *run) add(item string, m Mark, format string, args ...any) {
	r.rep.Results = append(r.rep.Results, Result{Item: item, Mark: m, Detail: fmt.Sprintf(format, args...)})
}

// fail records item as failed and returns err, which stops the host.
func (r *run) fail(item string, err error) error {
	r.add(item, Failed, "%v", err)
	return err
}

func (r *run) script(ctx context.Context, script string, stdin []byte, args ...string) (string, error) {
	var out bytes.Buffer
	var in io.Reader
	if stdin != nil {
		in = bytes.NewReader(stdin)
	}
	err := host.Script(ctx, r.t.Host, true, script, in, &out, args...)
	return out.String(), err
}

// status is the exit status of a command that ran and failed, else -1.
func status(err error) int {
	var ee *host.ExitError
	if errors.As(err, &ee) {
		return ee.Status
	}
	return -1
}

func (r *run) packages(ctx context.Context) error {
	const item = "packages"
	want := Packages(r.o.Config, r.t.Role)
	out, err := r.script(ctx, packagesScript, nil, want...)
	if err != nil {
		return r.fail(item, fmt.Errorf("ask dpkg what is installed: %w", err))
	}
	missing := strings.Fields(out)
	if len(missing) == 0 {
		r.add(item, Same, "%s installed", strings.Join(want, ", "))
		return nil
	}
	if r.o.DryRun {
		r.add(item, Changed, "would install %s (apt-get install)", strings.Join(missing, " "))
		return nil
	}
	if out, err := r.script(ctx, aptScript, nil, missing...); err != nil {
		return r.fail(item, fmt.Errorf("apt-get install %s failed; dpkg left the installed packages as they were:\n%s",
			strings.Join(missing, " "), strings.TrimSpace(out)))
	}
	r.add(item, Changed, "installed %s (apt-get install)", strings.Join(missing, " "))
	return nil
}

func (r *run) loginUser(ctx context.Context) error {
	item := "user " + r.o.User
	out, err := r.script(ctx, userScript, nil, r.o.User, r.o.Key)
	if err != nil {
		return r.fail(item, err)
	}
	exists, hasKey := strings.Contains(out, "user=yes"), strings.Contains(out, "key=yes")
	if exists && (strings.Contains(out, "shell=/usr/sbin/nologin") || strings.Contains(out, "shell=/bin/false")) {
		return r.fail(item, fmt.Errorf("%s exists with no login shell (a system user?): pick another --user", r.o.User))
	}
	if r.o.Key == "" {
		if exists {
			r.add(item, Same, "exists")
		} else {
			r.add(item, Changed, "would create it (useradd --create-home)")
		}
		return nil
	}
	key := shortKey(r.o.Key)
	switch {
	case exists && hasKey:
		r.add(item, Same, "exists, logs in with %s", key)
		return nil
	case r.o.DryRun && exists:
		r.add(item, Changed, "would add %s to its authorized_keys", key)
		return nil
	case r.o.DryRun:
		r.add(item, Changed, "would create it (useradd --create-home), logging in with %s", key)
		return nil
	}
	if _, err := r.script(ctx, addUserScript, nil, r.o.User, r.o.Key); err != nil {
		return r.fail(item, err)
	}
	if exists {
		r.add(item, Changed, "added %s to its authorized_keys", key)
	} else {
		r.add(item, Changed, "created, logging in with %s", key)
	}
	return nil
}

// shortKey names a key by its type and comment.
func shortKey(k string) string {
	f := strings.Fields(k)
	if len(f) >= 3 {
		return f[0] + " key " + strings.Join(f[2:], " ")
	}
	return f[0] + " key …" + f[1][max(0, len(f[1])-8):]
}

// file is one configuration file setup owns.
type file struct {
	item, path, mode, content string
	// check is run on the new file before it takes effect ("{}" is it).
	check []string
	// checkName says what checked it, for the report.
	checkName string
}

// readFile returns what path holds on the host, and whether it exists.
func (r *run) readFile(ctx context.Context, path string) (string, bool, error) {
	out, err := r.script(ctx, readScript, nil, path)
	if status(err) == 3 {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return out, true, nil
}

// ensureFile makes f.path hold f.content; changed reports whether it
// did (or, dry, would).
func (r *run) ensureFile(ctx context.Context, f file) (changed bool, err error) {
	old, exists, err := r.readFile(ctx, f.path)
	if err != nil {
		return false, r.fail(f.item, err)
	}
	if exists && old == f.content {
		r.add(f.item, Same, "%s", f.path)
		return false, nil
	}
	if r.o.DryRun {
		r.rep.Results = append(r.rep.Results, Result{Item: f.item, Mark: Changed, Detail: "would write " + f.path,
			Diff: deploy.UnifiedDiff(orDevNull(f.path, exists), f.path, []byte(old), []byte(f.content))})
		return true, nil
	}
	args := append([]string{f.path, f.mode, r.backup}, f.check...)
	out, err := r.script(ctx, installScript, []byte(f.content), args...)
	if status(err) == 4 {
		return false, r.fail(f.item, fmt.Errorf("%s refused the new %s, which was not installed:\n%s", f.checkName, f.path, strings.TrimSpace(out)))
	}
	if err != nil {
		return false, r.fail(f.item, err)
	}
	detail := "wrote " + f.path
	if f.checkName != "" {
		detail += " (checked with " + f.checkName + ")"
	}
	if exists {
		detail += "; the old one is in " + r.backup
	}
	r.add(f.item, Changed, "%s", detail)
	return true, nil
}

// restore puts path back as it was before this run.
func (r *run) restore(ctx context.Context, path string) error {
	_, err := r.script(ctx, restoreScript, nil, path, r.backup)
	return err
}

func (r *run) sudoers(ctx context.Context) error {
	_, err := r.ensureFile(ctx, file{item: "sudo", path: sudoersPath(r.o.User), mode: "0440",
		content: sudoersContent(r.o.User), check: []string{"visudo", "-c", "-q", "-f", "{}"}, checkName: "visudo -c"})
	return err
}

func (r *run) journal(ctx context.Context) error {
	changed, err := r.ensureFile(ctx, file{item: "journal", path: journaldDropIn, mode: "0644", content: journaldContent()})
	if err != nil || !changed || r.o.DryRun {
		return err
	}
	if _, err := r.script(ctx, "systemctl restart systemd-journald", nil); err != nil {
		return r.fail("journal", fmt.Errorf("restart systemd-journald: %w", err))
	}
	return nil
}

func (r *run) upgrades(ctx context.Context) error {
	_, err := r.ensureFile(ctx, file{item: "security updates", path: autoUpgrades, mode: "0644", content: autoUpgradesContent(),
		check: []string{"apt-config", "-c", "{}", "dump"}, checkName: "apt-config"})
	return err
}

func (r *run) firewall(ctx context.Context) error {
	const item = "firewall"
	rules, err := Firewall{SSHPort: r.t.SSHPort, HTTPFrom: r.t.HTTPFrom, ServicePorts: r.t.ServicePorts, ServicesFrom: r.t.ServicesFrom, NoWeb: r.t.Role == Services}.Ruleset()
	if err != nil {
		return r.fail(item, err)
	}
	rulesChanged, err := r.ensureFile(ctx, file{item: "firewall rules", path: firewallRules, mode: "0644", content: rules,
		check: []string{"nft", "-c", "-f", "{}"}, checkName: "nft -c"})
	if err != nil {
		return err
	}
	// The unit is constant text, checked by systemd-analyze verify in
	// this package's tests (verify wants a file named *.service).
	unitChanged, err := r.ensureFile(ctx, file{item: "firewall unit", path: firewallUnit, mode: "0644", content: firewallUnitContent()})
	if err != nil {
		return err
	}
	out, err := r.script(ctx, firewallStateScript, nil)
	if err != nil {
		return r.fail(item, err)
	}
	live := strings.Contains(out, "active=active") && strings.Contains(out, "enabled=enabled") && strings.Contains(out, "drift=no")
	if !rulesChanged && !unitChanged && live {
		r.add(item, Same, "table inet stackctl loaded (%s)", r.openPorts())
		return nil
	}
	if r.o.DryRun {
		if !rulesChanged && !unitChanged {
			r.add(item, Changed, "would reload table inet stackctl (%s): the live table was changed by hand or is not loaded", r.openPorts())
		} else {
			r.add(item, Changed, "would load table inet stackctl (%s) with %s", r.openPorts(), firewallService)
		}
		return nil
	}
	if out, err := r.script(ctx, firewallApplyScript, nil); err != nil {
		return r.fail(item, fmt.Errorf("load the firewall: %v\n%s", err, strings.TrimSpace(out)))
	}
	why := "loaded"
	if !rulesChanged && !unitChanged {
		why = "reloaded: the live table had been changed by hand or was not loaded"
	}
	r.add(item, Changed, "table inet stackctl %s (%s)", why, r.openPorts())
	return nil
}

// openPorts says what the firewall lets in.
func (r *run) openPorts() string {
	web := "80, 443 open"
	if len(r.t.HTTPFrom) > 0 {
		web = "80 from the lb (" + strings.Join(r.t.HTTPFrom, ", ") + ") only"
	}
	if r.t.Role == Services {
		web = "no web ports"
	}
	if len(r.t.ServicePorts) > 0 {
		ports := make([]string, len(r.t.ServicePorts))
		for i, p := range r.t.ServicePorts {
			ports[i] = strconv.Itoa(p)
		}
		web += ", " + strings.Join(ports, ", ") + " from the app hosts (" + strings.Join(r.t.ServicesFrom, ", ") + ") only"
	}
	return fmt.Sprintf("%d, %s; the rest closed", r.t.SSHPort, web)
}

func (r *run) sshd(ctx context.Context) error {
	const item = "sshd"
	content := sshdContent()
	old, exists, err := r.readFile(ctx, sshdDropIn)
	if err != nil {
		return r.fail(item, err)
	}
	if exists && old == content {
		eff, err := r.script(ctx, sshdEffectiveScript, nil)
		if err != nil || !keysOnly(eff) {
			return r.fail(item, fmt.Errorf("%s is in place but sshd still allows passwords (another file sets it first, or sshd_config has no Include of sshd_config.d):\n%s", sshdDropIn, strings.TrimSpace(eff)))
		}
		r.add(item, Same, "password logins off (%s)", sshdDropIn)
		return nil
	}
	if r.o.DryRun {
		r.rep.Results = append(r.rep.Results, Result{Item: item, Mark: Changed,
			Detail: "would turn password logins off once " + r.t.LoginDest + " logs in with its key",
			Diff:   deploy.UnifiedDiff(orDevNull(sshdDropIn, exists), sshdDropIn, []byte(old), []byte(content))})
		return nil
	}
	if err := r.loginWorks(ctx, 0); err != nil {
		return r.fail(item, fmt.Errorf("password logins stay on: %s cannot log in and use sudo (%v) — turning them off could lock you out; check the key (--key) and run setup again", r.t.LoginDest, err))
	}
	out, err := r.script(ctx, installScript, []byte(content), sshdDropIn, "0644", r.backup, "sshd", "-t", "-f", "{}")
	if status(err) == 4 {
		return r.fail(item, fmt.Errorf("sshd -t refused %s, which was not installed:\n%s", sshdDropIn, strings.TrimSpace(out)))
	}
	if err != nil {
		return r.fail(item, err)
	}
	undo := func(why error) error {
		if err := r.restore(ctx, sshdDropIn); err != nil {
			return r.fail(item, fmt.Errorf("%v; and putting back %s failed: %v", why, sshdDropIn, err))
		}
		r.script(ctx, sshdReloadScript, nil)
		return r.fail(item, fmt.Errorf("%v; %s was put back and sshd reloaded", why, sshdDropIn))
	}
	if out, err := r.script(ctx, sshdReloadScript, nil); err != nil {
		return undo(fmt.Errorf("sshd refused the configuration: %s", strings.TrimSpace(out)))
	}
	if err := r.loginWorks(ctx, sshdRestart); err != nil {
		return undo(fmt.Errorf("%s could not log in after the change (%v)", r.t.LoginDest, err))
	}
	eff, err := r.script(ctx, sshdEffectiveScript, nil)
	if err != nil || !keysOnly(eff) {
		return undo(fmt.Errorf("sshd still allows passwords after the change (another file sets it first, or sshd_config has no Include of sshd_config.d):\n%s", strings.TrimSpace(eff)))
	}
	r.add(item, Changed, "password logins off (%s, checked with sshd -t; %s logged in before and after)", sshdDropIn, r.t.LoginDest)
	return nil
}

// loginWorks opens a second connection as the login user and runs sudo.
// Right after a reload sshd re-executes and its port refuses connections
// for a moment: tries go on for up to wait.
func (r *run) loginWorks(ctx context.Context, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := r.tryLogin(ctx)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (r *run) tryLogin(ctx context.Context) error {
	h, err := r.o.Dial(ctx, r.t.LoginDest)
	if err != nil {
		return err
	}
	defer h.Close()
	_, err = host.Output(ctx, h, true, "true")
	return err
}

// keysOnly reports whether `sshd -T` output has password logins off.
func keysOnly(eff string) bool {
	eff = strings.ToLower(eff)
	return strings.Contains(eff, "passwordauthentication no") &&
		strings.Contains(eff, "kbdinteractiveauthentication no") &&
		!strings.Contains(eff, "permitrootlogin yes")
}

func orDevNull(path string, exists bool) string {
	if exists {
		return path
	}
	return "/dev/null"
}
