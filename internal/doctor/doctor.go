// Package doctor checks what a stackctl project needs on this machine — Go,
// nginx, Python with Flask and gunicorn, free ports, a valid stack.toml,
// write access to the deploy paths — and says how to fix each miss.
//
// Every check reaches the machine only through an Env, so tests fake each
// pass and each failure.
package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/stackctl/stackctl/internal/deploy"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// Status is the outcome of one check.
type Status string

// The outcomes of a check.
const (
	OK   Status = "ok"   // ✓
	Fail Status = "fail" // ✗, and doctor exits 1 when the check is required
	Warn Status = "warn" // ✗ on something that is not required
	Skip Status = "skip" // not relevant here
)

// Check is one line of the report.
type Check struct {
	// Name is what was checked ("nginx", "port 8080").
	Name string `json:"name"`
	// Status is the outcome.
	Status Status `json:"status"`
	// Required reports whether a failure makes doctor exit 1.
	Required bool `json:"required"`
	// Detail is what was found (a version, a path, an error).
	Detail string `json:"detail"`
	// Fix says how to repair a failure.
	Fix string `json:"fix,omitempty"`
}

// Report is every check and the verdict.
type Report struct {
	// OK is false when a required check failed.
	OK bool `json:"ok"`
	// Config is the stack.toml checked, if any.
	Config string `json:"config,omitempty"`
	// Host is the server checked (doctor --host); "" is this machine.
	Host   string  `json:"host,omitempty"`
	Checks []Check `json:"checks"`
}

// Env is how checks reach the machine.
type Env struct {
	// LookPath finds a program.
	LookPath func(name string) (string, error)
	// Run runs a program and returns its combined output.
	Run func(ctx context.Context, name string, args ...string) (string, error)
	// Listen opens a listener, to see whether an address is free.
	Listen func(network, addr string) (io.Closer, error)
	// Stat is os.Stat.
	Stat func(path string) (fs.FileInfo, error)
	// Writable reports whether the current user may create files in dir.
	Writable func(dir string) error
}

// RealEnv is the Env of this machine.
func RealEnv() Env {
	sys := deploy.RealSystem()
	return Env{
		LookPath: sys.LookPath,
		Run: func(ctx context.Context, name string, args ...string) (string, error) {
			out, err := sys.Run(ctx, "", name, args...)
			return string(out), err
		},
		Listen:   func(network, addr string) (io.Closer, error) { return net.Listen(network, addr) },
		Stat:     os.Stat,
		Writable: writable,
	}
}

// Options are doctor's inputs.
type Options struct {
	// Config is the project; nil when no stack.toml was found or it is invalid.
	Config *stack.Config
	// ConfigPath is the stack.toml that was found ("" for none).
	ConfigPath string
	// ConfigErr is why the stack.toml could not be loaded.
	ConfigErr error
	Env       Env
}

// MinGo is the oldest Go the app template builds with (it uses the
// method-and-path patterns of net/http's ServeMux from Go 1.22).
const MinGo = "1.22"

// Run runs every check that applies and returns the report.
func Run(ctx context.Context, o Options) Report {
	d := &doctor{env: o.Env}
	c := o.Config
	switch {
	case o.ConfigErr != nil:
		d.add(Check{Name: "stack.toml", Status: Fail, Required: true, Detail: o.ConfigErr.Error(), Fix: "fix the keys named above in " + firstNonEmpty(o.ConfigPath, "stack.toml")})
	case c == nil:
		d.add(Check{Name: "stack.toml", Status: Skip, Detail: "no stack.toml here or in a parent folder: project checks skipped", Fix: "run doctor inside a project made by 'stackctl new', or pass --config FILE"})
	default:
		d.add(Check{Name: "stack.toml", Status: OK, Detail: firstNonEmpty(o.ConfigPath, "stack.toml") + " is valid"})
	}
	template := "go"
	if c != nil {
		template = c.App.Template
	}
	if template == "go" {
		d.checkGo(ctx, c)
	}
	d.checkNginx(ctx)
	if template == "flask" {
		d.checkPython(ctx)
	}
	if c != nil {
		d.checkPorts(c)
		d.checkSystemd()
		d.checkDeployPaths(ctx, c)
	}
	r := Report{OK: true, Config: o.ConfigPath, Checks: d.checks}
	for _, ch := range d.checks {
		if ch.Status == Fail && ch.Required {
			r.OK = false
		}
	}
	return r
}

type doctor struct {
	env    Env
	checks []Check
}

func (d *doctor) add(c Check) { d.checks = append(d.checks, c) }

var goVersionRE = regexp.MustCompile(`go(\d+)\.(\d+)(?:\.(\d+))?`)

func (d *doctor) checkGo(ctx context.Context, c *stack.Config) {
	ch := Check{Name: "go", Required: true}
	bin, err := d.env.LookPath("go")
	if err != nil {
		ch.Status, ch.Detail = Fail, "go is not installed: the Go app is built with it"
		ch.Fix = "install Go " + MinGo + " or newer from https://go.dev/dl/ (or apt-get install golang)"
		d.add(ch)
		return
	}
	out, err := d.env.Run(ctx, bin, "version")
	m := goVersionRE.FindStringSubmatch(out)
	if err != nil || m == nil {
		ch.Status, ch.Detail, ch.Fix = Fail, "cannot tell Go's version: "+firstLine(out, err), "reinstall Go from https://go.dev/dl/"
		d.add(ch)
		return
	}
	want := MinGo
	if c != nil {
		if v := goModVersion(d.env, filepath.Join(c.Dir(), "go.mod")); v != "" {
			want = v
		}
	}
	have := m[1] + "." + m[2]
	if m[3] != "" {
		have += "." + m[3]
	}
	if compareVersions(have, want) < 0 {
		ch.Status, ch.Detail = Fail, fmt.Sprintf("go%s is older than go%s, which the app needs", have, want)
		ch.Fix = "install Go " + want + " or newer from https://go.dev/dl/"
	} else {
		ch.Status, ch.Detail = OK, "go"+have+" ("+bin+")"
	}
	d.add(ch)
}

var goDirectiveRE = regexp.MustCompile(`(?m)^go\s+(\d+\.\d+(?:\.\d+)?)\s*$`)

// goModVersion reads the go directive of a go.mod; "" when there is none.
func goModVersion(env Env, p string) string {
	if _, err := env.Stat(p); err != nil {
		return ""
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	if m := goDirectiveRE.FindSubmatch(data); m != nil {
		return string(m[1])
	}
	return ""
}

// compareVersions compares dotted numeric versions ("1.22" < "1.22.1").
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

var (
	nginxVersionRE = regexp.MustCompile(`nginx/(\d+\.\d+\.\d+)`)
	nginxEmergRE   = regexp.MustCompile(`nginx: \[(?:emerg|alert|crit)\] .*`)
)

func (d *doctor) checkNginx(ctx context.Context) {
	ch := Check{Name: "nginx", Required: true}
	bin, err := d.env.LookPath("nginx")
	if err != nil {
		ch.Status, ch.Detail, ch.Fix = Fail, "nginx is not installed: deploy puts the app behind it", "apt-get install nginx"
		d.add(ch)
		d.add(Check{Name: "nginx -t", Status: Skip, Detail: "no nginx to test"})
		return
	}
	out, err := d.env.Run(ctx, bin, "-v")
	m := nginxVersionRE.FindStringSubmatch(out)
	if err != nil || m == nil {
		ch.Status, ch.Detail, ch.Fix = Fail, "cannot tell nginx's version: "+firstLine(out, err), "reinstall nginx (apt-get install --reinstall nginx)"
	} else {
		ch.Status, ch.Detail = OK, "nginx "+m[1]+" ("+bin+")"
	}
	d.add(ch)

	t := Check{Name: "nginx -t", Required: true}
	out, err = d.env.Run(ctx, bin, "-t")
	switch {
	case err == nil:
		t.Status, t.Detail = OK, "the current configuration is valid"
	case strings.Contains(out, "Permission denied"):
		t.Status, t.Detail, t.Fix = Fail, firstMatch(nginxEmergRE, out), "run doctor as root (sudo stackctl doctor): nginx -t opens root-owned files"
	default:
		t.Status, t.Detail, t.Fix = Fail, firstMatch(nginxEmergRE, out), "fix the file and line nginx names, then check again with 'nginx -t'"
	}
	d.add(t)
}

var pyVersionRE = regexp.MustCompile(`(\d+\.\d+(?:\.\d+)?)`)

func (d *doctor) checkPython(ctx context.Context) {
	py := Check{Name: "python3", Required: true}
	bin, err := d.env.LookPath("python3")
	if err != nil {
		py.Status, py.Detail, py.Fix = Fail, "python3 is not installed: the Flask app runs on it", "apt-get install python3"
		d.add(py)
		d.add(Check{Name: "flask", Status: Skip, Detail: "no python3"})
	} else {
		out, err := d.env.Run(ctx, bin, "--version")
		if m := pyVersionRE.FindStringSubmatch(out); err == nil && m != nil {
			py.Status, py.Detail = OK, "Python "+m[1]+" ("+bin+")"
		} else {
			py.Status, py.Detail, py.Fix = Fail, "python3 does not run: "+firstLine(out, err), "reinstall it (apt-get install --reinstall python3)"
		}
		d.add(py)
		fl := Check{Name: "flask", Required: true}
		out, err = d.env.Run(ctx, bin, "-c", `import importlib.metadata as m; print(m.version("flask"))`)
		if m := pyVersionRE.FindStringSubmatch(out); err == nil && m != nil {
			fl.Status, fl.Detail = OK, "Flask "+m[1]
		} else {
			fl.Status, fl.Detail, fl.Fix = Fail, "python3 cannot import Flask", "apt-get install python3-flask (or pip install flask in the project's .venv)"
		}
		d.add(fl)
	}
	g := Check{Name: "gunicorn", Required: true}
	gbin, err := d.env.LookPath("gunicorn")
	if err != nil {
		g.Status, g.Detail, g.Fix = Fail, "gunicorn is not installed: deploy runs the Flask app under it", "apt-get install gunicorn"
	} else if out, err := d.env.Run(ctx, gbin, "--version"); err != nil {
		g.Status, g.Detail, g.Fix = Fail, "gunicorn does not run: "+firstLine(out, err), "reinstall it (apt-get install --reinstall gunicorn)"
	} else {
		g.Status, g.Detail = OK, strings.TrimSpace(firstLine(out, nil))+" ("+gbin+")"
	}
	d.add(g)
}

func (d *doctor) checkPorts(c *stack.Config) {
	type port struct{ addr, key string }
	var ports []port
	if l, err := stack.ParseListen(c.Serve.Listen); err == nil {
		ports = append(ports, port{l.String(), "serve.listen"})
	}
	for i := range max(c.App.Replicas, 1) {
		key := "app.port"
		if i > 0 {
			key = fmt.Sprintf("app.port+%d (replica %d)", i, i+1)
		}
		ports = append(ports, port{net.JoinHostPort(deploy.AppHost, strconv.Itoa(c.App.Port+i)), key})
	}
	for _, p := range ports {
		_, portNum, _ := net.SplitHostPort(p.addr)
		ch := Check{Name: "port " + portNum, Detail: p.key}
		l, err := d.env.Listen("tcp", p.addr)
		if err != nil {
			ch.Status = Warn
			ch.Detail = fmt.Sprintf("%s: %s is in use (%v)", p.key, p.addr, unwrapOp(err))
			ch.Fix = fmt.Sprintf("stop what listens there ('ss -ltnp sport = :%s' shows it) or change %s in stack.toml", portNum, strings.Fields(p.key)[0])
		} else {
			l.Close()
			ch.Status, ch.Detail = OK, p.key+": "+p.addr+" is free"
		}
		d.add(ch)
	}
}

// checkSystemd says which engine deploy uses here: systemd creates
// /run/systemd/system when it is PID 1.
func (d *doctor) checkSystemd() {
	ch := Check{Name: "systemd"}
	if st, err := d.env.Stat("/run/systemd/system"); err == nil && (st == nil || st.IsDir()) {
		ch.Status, ch.Detail = OK, "running: deploy installs releases here (two slots, nginx switch, rollback in seconds)"
	} else {
		ch.Status = Warn
		ch.Detail = "not running (PID 1 is not systemd): deploy writes and checks the unit but cannot start it"
		ch.Fix = "deploy on a machine booted with systemd, or start the app yourself with the command deploy prints"
	}
	d.add(ch)
}

// checkDeployPaths checks that the folders deploy writes to can be written.
func (d *doctor) checkDeployPaths(ctx context.Context, c *stack.Config) {
	dirs := []struct{ dir, what string }{
		{c.Nginx.AppDir, "nginx.app_dir"},
		{"/etc/systemd/system", "systemd unit"},
		{"/var/lib/stackctl", "deploy backups"},
	}
	sys := deploy.System{
		LookPath: d.env.LookPath,
		Run: func(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
			out, err := d.env.Run(ctx, name, args...)
			return []byte(out), err
		},
	}
	if l, err := deploy.DiscoverLayout(ctx, sys, "", c.Deploy.SitesDir); err == nil {
		dirs = append(dirs, struct{ dir, what string }{l.SitesDir, "nginx site"})
		if l.EnabledDir != "" {
			dirs = append(dirs, struct{ dir, what string }{l.EnabledDir, "nginx site link"})
		}
	} else if c.Deploy.SitesDir != "" {
		dirs = append(dirs, struct{ dir, what string }{c.Deploy.SitesDir, "deploy.sites_dir"})
	}
	for _, x := range dirs {
		ch := Check{Name: "write " + x.what}
		existing := nearestExisting(d.env, x.dir)
		if err := d.env.Writable(existing); err != nil {
			ch.Status = Warn
			ch.Detail = fmt.Sprintf("cannot write %s (%v)", existing, unwrapOp(err))
			ch.Fix = "run deploy as root (sudo stackctl deploy), or give this user write access to " + existing
		} else {
			ch.Status = OK
			if existing != x.dir {
				ch.Detail = fmt.Sprintf("%s can be created in %s", x.dir, existing)
			} else {
				ch.Detail = x.dir + " is writable"
			}
		}
		d.add(ch)
	}
}

// nearestExisting returns p or its nearest parent that exists.
func nearestExisting(env Env, p string) string {
	for {
		if _, err := env.Stat(p); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return p
		}
		parent := path.Dir(p)
		if parent == p {
			return p
		}
		p = parent
	}
}

func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return unwrapSyscall(op.Err)
	}
	return unwrapSyscall(err)
}

func unwrapSyscall(err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func firstLine(out string, err error) string {
	s := strings.TrimSpace(out)
	if s == "" && err != nil {
		return err.Error()
	}
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func firstMatch(re *regexp.Regexp, out string) string {
	if m := re.FindString(out); m != "" {
		return m
	}
	return firstLine(out, nil)
}

func firstNonEmpty(xs ...string) string {
	for _, x := range xs {
		if x != "" {
			return x
		}
	}
	return ""
}

// Print writes the report as lines of ✓/✗ with a fix under each miss;
// colors come from the palette (off unless the output is a terminal).
func (r Report) Print(w io.Writer, p *ui.Palette) {
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	for _, c := range r.Checks {
		var mark string
		switch c.Status {
		case OK:
			mark = p.Green("✓")
		case Fail:
			mark = p.Red("✗")
		case Warn:
			mark = p.Yellow("✗")
		default:
			mark = p.Faint("-")
		}
		detail := c.Detail
		if c.Status == Warn {
			detail += " (not required)"
		}
		fmt.Fprintf(w, "%s %-*s  %s\n", mark, width, c.Name, detail)
		if c.Fix != "" && c.Status != OK {
			fmt.Fprintf(w, "  %s %s\n", p.Cyan("fix:"), c.Fix)
		}
	}
	failed, warned := 0, 0
	for _, c := range r.Checks {
		switch {
		case c.Status == Fail && c.Required:
			failed++
		case c.Status == Fail || c.Status == Warn:
			warned++
		}
	}
	switch {
	case failed > 0:
		fmt.Fprintln(w, p.Red(fmt.Sprintf("\n%d required check(s) failed.", failed)))
	case warned > 0:
		fmt.Fprintln(w, p.Yellow(fmt.Sprintf("\nEverything required is here; %d warning(s).", warned)))
	default:
		fmt.Fprintln(w, p.Green("\nEverything is ready."))
	}
}

// WriteJSON writes the report as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
