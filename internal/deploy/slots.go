package deploy

import (
	"bytes"
	_ "embed"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/kballard/go-shellquote"

	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

//go:embed slot.service.tmpl
var slotUnitTemplate string

var slotUnitTmpl = withHardening(template.New("slot").Parse(slotUnitTemplate))

// Slots are the two instances of a host's template unit. A deploy starts
// the idle one on the new release and stops the other after the switch.
var Slots = [2]string{"a", "b"}

// SlotPort is the port slot runs the app on: app.port for slot a,
// app.port+stack.SlotOffset for slot b.
func SlotPort(c *stack.Config, slot string) int {
	if slot == "b" {
		return c.App.Port + stack.SlotOffset
	}
	return c.App.Port
}

// otherSlot returns the slot that is not s.
func otherSlot(s string) string {
	if s == "a" {
		return "b"
	}
	return "a"
}

// HostLayout is where a project lives on a server (DEPLOY.md "Releases").
type HostLayout struct {
	AppDir      string // /srv/<name> (nginx.app_dir)
	EtcDir      string // /etc/stackctl/<name>: the unit's environment files, the upstream file
	SecretsFile string // /etc/stackctl/<name>.env, 0600 root (stackctl env)
	StateDir    string // /var/lib/stackctl/<name>: lock, state.json, backups
	Service     string // deploy.service
}

// NewHostLayout returns the layout of c on a server.
func NewHostLayout(c *stack.Config) HostLayout {
	return HostLayout{
		AppDir:      c.Nginx.AppDir,
		EtcDir:      path.Join("/etc/stackctl", c.Name),
		SecretsFile: path.Join("/etc/stackctl", c.Name+".env"),
		StateDir:    path.Join(stateBase, c.Name),
		Service:     c.Deploy.Service,
	}
}

// Releases is the folder holding one folder per release.
func (l HostLayout) Releases() string { return path.Join(l.AppDir, "releases") }

// Release is the folder of release id.
func (l HostLayout) Release(id string) string { return path.Join(l.Releases(), id) }

// Current is the link to the release that takes traffic.
func (l HostLayout) Current() string { return path.Join(l.AppDir, "current") }

// SlotLink is the link to the release slot runs.
func (l HostLayout) SlotLink(slot string) string { return path.Join(l.AppDir, "slots", slot) }

// UnitName is the template unit's file name ("myapp@.service").
func (l HostLayout) UnitName() string { return l.Service + "@.service" }

// Instance is the unit of one slot ("myapp@a.service").
func (l HostLayout) Instance(slot string) string { return l.Service + "@" + slot + ".service" }

// UnitPath is where the template unit is installed.
func (l HostLayout) UnitPath() string { return path.Join(unitDir, l.UnitName()) }

// SlotEnv is the environment file giving slot its port.
func (l HostLayout) SlotEnv(slot string) string { return path.Join(l.EtcDir, "slot-"+slot+".env") }

// AppEnv is the environment file holding app.env (0600, root).
func (l HostLayout) AppEnv() string { return path.Join(l.EtcDir, "app.env") }

// UpstreamFile is the file the site's upstream block includes: the
// server of the slot taking traffic.
func (l HostLayout) UpstreamFile() string { return path.Join(l.EtcDir, "upstream.conf") }

// ReleaseFile is the file the site includes for the release folder its
// static files come from: switched with UpstreamFile.
func (l HostLayout) ReleaseFile() string { return path.Join(l.EtcDir, "release.conf") }

// StateFile records the slots and the releases' history.
func (l HostLayout) StateFile() string { return path.Join(l.StateDir, "state.json") }

// Lock is the folder whose existence means a deploy is running.
func (l HostLayout) Lock() string { return path.Join(l.StateDir, "lock") }

// portSentinel stands for ${PORT} while an argument is quoted for systemd.
const portSentinel = "STACKCTLPORTSENTINEL"

// RenderSlotUnit renders the template unit <service>@.service: slot %i runs
// the release under slots/%i as deploy.user with the slot's port, app.env
// and the secrets file. A Go app runs its binary with app.command's
// arguments; a Flask or Django app runs gunicorn on app.wsgi from the
// release's virtualenv.
// workers is gunicorn's worker count.
func RenderSlotUnit(c *stack.Config, workers int) ([]byte, error) {
	l := NewHostLayout(c)
	slotDir := l.AppDir + "/slots/%i"
	var argv []string
	switch c.App.Template {
	case "go":
		words, err := shellquote.Split(c.App.Command)
		if err != nil || len(words) == 0 {
			return nil, fmt.Errorf("app.command %q: cannot split it into words: %v", c.App.Command, err)
		}
		argv = []string{slotDir + "/bin/" + c.Name}
		argv = append(argv, words[1:]...)
	case "flask", "django":
		argv = []string{slotDir + "/.venv/bin/python", "-m", "gunicorn", "-w", strconv.Itoa(max(workers, 1)),
			"-b", AppHost + ":$PORT", "--graceful-timeout", "25", wsgiTarget(c)}
	default:
		return nil, fmt.Errorf("app.template %q cannot be deployed to a server", c.App.Template)
	}
	words := make([]string, len(argv))
	for i, a := range argv {
		a = strings.NewReplacer("${PORT}", portSentinel, "$PORT", portSentinel, "${HOST}", AppHost, "$HOST", AppHost).Replace(a)
		if i == 0 {
			// %i in the path is systemd's instance specifier.
			words[i] = a
			continue
		}
		words[i] = strings.ReplaceAll(systemdArg(a), portSentinel, "${PORT}")
	}
	// The hardening is rendered after the rest, in its own block.
	all := appSettings(c, l, slotDir, false)
	hardening := hardeningSettings(l.Service)
	data := struct {
		Name, Service, AppDir, EtcDir, ExecStart, ReadsWhat string
		Settings, Hardening                                 []unitSetting
	}{c.Name, c.Deploy.Service, l.AppDir, l.EtcDir, strings.Join(words, " "), "release", all[:len(all)-len(hardening)], hardening}
	var b bytes.Buffer
	if err := slotUnitTmpl.Execute(&b, data); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// SlotEnvFile is the environment file of slot: its port and address.
func SlotEnvFile(c *stack.Config, slot string) []byte {
	return []byte(fmt.Sprintf("# slot %s of %s, written by stackctl deploy\nHOST=%s\nPORT=%d\nSTACKCTL_SLOT=%s\n", slot, c.Name, AppHost, SlotPort(c, slot), slot))
}

// AppEnvFile is the environment file holding app.env (and, for Python,
// unbuffered output without bytecode files in the read-only release).
func AppEnvFile(c *stack.Config) ([]byte, error) {
	var b strings.Builder
	b.WriteString("# app.env of " + c.Name + ", written by stackctl deploy (0600 root): change stack.toml instead\n")
	env := map[string]string{}
	if c.App.Template != "go" {
		env["PYTHONUNBUFFERED"] = "1"
		env["PYTHONDONTWRITEBYTECODE"] = "1"
	}
	for k, v := range c.App.Env {
		if k == "PORT" || k == "HOST" {
			return nil, fmt.Errorf("app.env.%s: deploy sets %s itself (from app.port, to %s): remove it from app.env", k, k, AppHost)
		}
		env[k] = v
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString(k + "=" + EnvFileQuote(env[k]) + "\n")
	}
	return []byte(b.String()), nil
}

// EnvFileQuote writes v as a double-quoted value of a systemd
// EnvironmentFile: backslash, double quote, dollar and backquote escaped.
func EnvFileQuote(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		switch r {
		case '\\', '"', '$', '`':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

// foreignPort reports whether something other than slot's own unit
// listens on slot's port.
func (r *hostRun) foreignPort(slot string) bool {
	return r.facts.Busy[slot] && r.facts.Active[slot] != "active"
}

// pickNewSlot chooses the slot the next release starts in: the idle one,
// or slot a on a host without releases yet. A port held by another
// program stops the command before it changes anything.
func (r *hostRun) pickNewSlot() (string, error) {
	slot := "a"
	if r.state.Slot != "" {
		slot = otherSlot(r.state.Slot)
	}
	if r.foreignPort(slot) {
		port := SlotPort(r.c, slot)
		return "", ui.WithFix(fmt.Errorf("%s: port %d, which slot %s of %s runs on, is taken by another program; nothing was changed", r.h.Name(), port, slot, r.c.Name),
			fmt.Sprintf("free it (%s shows who holds it), or change app.port in stack.toml", onHost(r.h, fmt.Sprintf("sudo ss -ltnp 'sport = :%d'", port))))
	}
	return slot, nil
}

// onHost is how the user runs a shell command line on h: over ssh for a
// server, as it is on this machine.
func onHost(h host.Host, cmdline string) string {
	if host.IsLocal(h) {
		return cmdline
	}
	return "ssh " + host.Quote(h.Name()) + " " + cmdline
}

// onWhere names h's place for a fix: "on the server" or "on this machine".
func onWhere(h host.Host) string {
	if host.IsLocal(h) {
		return "on this machine"
	}
	return "on the server"
}
