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

	"github.com/stackctl/stackctl/internal/stack"
)

//go:embed unit.service.tmpl
var unitTemplate string

//go:embed hardening.tmpl
var hardeningTemplate string

var unitTmpl = withHardening(template.New("unit").Parse(unitTemplate))

// withHardening adds the shared hardening block to a unit template.
func withHardening(t *template.Template, err error) *template.Template {
	template.Must(t, err)
	template.Must(t.New("hardening.tmpl").Parse(hardeningTemplate))
	return t
}

// UnitOptions are the facts of the target machine a unit depends on.
type UnitOptions struct {
	// Gunicorn is the gunicorn executable for a Flask app ("/usr/bin/gunicorn").
	Gunicorn string
	// Workers is gunicorn's worker count (-w); 2×cores+1 is gunicorn's advice.
	Workers int
}

// Unit is a rendered systemd unit and the command it runs.
type Unit struct {
	// Name is the unit file name ("myapp.service").
	Name string
	// Text is the unit file.
	Text []byte
	// Argv is the command ExecStart runs, $PORT and $HOST already expanded.
	Argv []string
	// Env is the environment the unit gives it, KEY=value in order: HOST
	// and PORT in the unit, the rest from EnvFile.
	Env []string
	// EnvFile is the environment file the unit loads (app.env, and for
	// Python unbuffered output): 0600 root, since a unit is readable by
	// every local user. EnvData is its content.
	EnvFile string
	EnvData []byte
	// Dir is the working directory (nginx.app_dir).
	Dir string
}

// AppHost is the address the deployed app listens on: only nginx, on the
// same machine, reaches it.
const AppHost = "127.0.0.1"

// BinaryPath is where deploy installs a Go app's binary.
func BinaryPath(c *stack.Config) string { return path.Join(c.Nginx.AppDir, "bin", c.Name) }

// RenderUnit renders the systemd unit of the app: it runs as deploy.user in
// nginx.app_dir on 127.0.0.1:app.port with app.env, restarts on failure and
// is hardened. A Go app runs its installed binary with app.command's
// arguments; a Flask app runs under gunicorn, never the debug server.
func RenderUnit(c *stack.Config, o UnitOptions) (*Unit, error) {
	port := strconv.Itoa(c.App.Port)
	expand := func(s string) string {
		return strings.NewReplacer("${PORT}", port, "$PORT", port, "${HOST}", AppHost, "$HOST", AppHost).Replace(s)
	}
	var argv []string
	env := []string{"HOST=" + AppHost, "PORT=" + port}
	unitEnv := len(env) // HOST and PORT are in the unit; the rest in EnvFile
	switch c.App.Template {
	case "go":
		words, err := shellquote.Split(c.App.Command)
		if err != nil || len(words) == 0 {
			return nil, fmt.Errorf("app.command %q: cannot split it into words: %v", c.App.Command, err)
		}
		argv = []string{BinaryPath(c)}
		for _, w := range words[1:] {
			argv = append(argv, expand(w))
		}
	case "flask", "django":
		if o.Gunicorn == "" || !path.IsAbs(o.Gunicorn) {
			return nil, fmt.Errorf("gunicorn's path %q is not absolute", o.Gunicorn)
		}
		w := max(o.Workers, 1)
		argv = []string{o.Gunicorn, "-w", strconv.Itoa(w), "-b", AppHost + ":" + port, wsgiTarget(c)}
		env = append(env, "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1")
	default:
		return nil, fmt.Errorf("app.template %q cannot be deployed", c.App.Template)
	}
	keys := make([]string, 0, len(c.App.Env))
	for k := range c.App.Env {
		if k == "PORT" || k == "HOST" {
			return nil, fmt.Errorf("app.env.%s: deploy sets %s itself (from app.port, to %s): remove it from app.env", k, k, AppHost)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+c.App.Env[k])
	}

	execStart := make([]string, len(argv))
	for i, a := range argv {
		execStart[i] = systemdArg(a)
	}
	quotedEnv := make([]string, unitEnv)
	for i, e := range env[:unitEnv] {
		quotedEnv[i] = systemdQuote(e)
	}
	envData, err := AppEnvFile(c)
	if err != nil {
		return nil, err
	}
	envFile := LocalEnvPath(c)
	data := struct {
		Name, Service, User, AppDir, ExecStart, EnvFile, ReadsWhat string
		Env                                                        []string
		Hardening                                                  []unitSetting
	}{c.Name, c.Deploy.Service, c.Deploy.User, c.Nginx.AppDir, strings.Join(execStart, " "), envFile, "folder", quotedEnv, hardeningSettings(c.Deploy.Service)}
	var b bytes.Buffer
	if err := unitTmpl.Execute(&b, data); err != nil {
		return nil, err
	}
	return &Unit{Name: c.Deploy.Service + ".service", Text: b.Bytes(), Argv: argv, Env: env, EnvFile: envFile, EnvData: envData, Dir: c.Nginx.AppDir}, nil
}

// LocalEnvPath is the environment file of the unit deploy installs on this
// machine: /etc/stackctl/<name>/app.env, as on servers.
func LocalEnvPath(c *stack.Config) string { return path.Join("/etc/stackctl", c.Name, "app.env") }

// systemdQuote writes s as one double-quoted word of a unit file: C escapes
// for quotes, backslashes and control characters, and %% for a literal %
// (systemd's specifier character).
func systemdQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '"' || ch == '\\':
			b.WriteByte('\\')
			b.WriteByte(ch)
		case ch == '%':
			b.WriteString("%%")
		case ch < 0x20 || ch == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, ch)
		default:
			b.WriteByte(ch)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// systemdArg writes one ExecStart argument: plain when it is safe as is,
// else quoted; $ is doubled so systemd does not expand variables in it.
func systemdArg(s string) string {
	if s == ";" {
		return `\;`
	}
	s2 := strings.ReplaceAll(s, "$", "$$")
	if s2 != "" && strings.Trim(s2, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/@+,=:-") == "" {
		return s2
	}
	return systemdQuote(s2)
}
