package deploy

import (
	_ "embed"
	"fmt"
	"path"
	"strings"
	"text/template"

	"github.com/stackctl/stackctl/internal/stack"
)

//go:embed hardening.tmpl
var hardeningTemplate string

// withHardening adds the shared hardening block to a unit template.
func withHardening(t *template.Template, err error) *template.Template {
	template.Must(t, err)
	template.Must(t.New("hardening.tmpl").Parse(hardeningTemplate))
	return t
}

// AppHost is the address the deployed app listens on: only nginx, on the
// same machine, reaches it.
const AppHost = "127.0.0.1"

// BinaryPath is where deploy installs a Go app's binary.
func BinaryPath(c *stack.Config) string { return path.Join(c.Nginx.AppDir, "bin", c.Name) }

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
