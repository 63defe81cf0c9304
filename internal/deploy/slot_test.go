package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/stack"
)

// The template unit of the slots: the release under slots/%i, the slot's
// port from its environment file, app.env and the secrets from root-only
// files, gunicorn on app.wsgi from the release's virtualenv for Python,
// and the same hardening as the single unit.
func TestRenderSlotUnitGolden(t *testing.T) {
	for _, tc := range []struct{ name, template string }{{"myapp", "go"}, {"shop", "flask"}} {
		c := stack.Default(tc.name, tc.template)
		c.App.Command = ".stackctl/app --port $PORT"
		if tc.template == "flask" {
			c.App.Command = stack.DefaultCommand("flask")
		}
		text, err := RenderSlotUnit(c, 5)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, tc.name+"@.service", text)
		for _, want := range []string{"WorkingDirectory=/srv/" + tc.name + "/slots/%i", "EnvironmentFile=/etc/stackctl/" + tc.name + "/slot-%i.env",
			"EnvironmentFile=-/etc/stackctl/" + tc.name + ".env", "ProtectSystem=strict", "SystemCallFilter=@system-service", "${PORT}"} {
			if !strings.Contains(string(text), want) {
				t.Errorf("%s@.service lacks %q:\n%s", tc.name, want, text)
			}
		}
	}
}

// The slots' template unit passes systemd-analyze verify for a Go app
// whose command needs every kind of quoting and for a Flask app, and the
// check can fail: a broken line is reported.
func TestSlotUnitPassesSystemdAnalyzeVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (apt-get install systemd)")
	}
	g := stack.Default("myapp", "go")
	g.App.Command = `.stackctl/app -addr $HOST:$PORT -banner "50% off; $5" ;`
	f := stack.Default("shop", "flask")
	f.App.Command = stack.DefaultCommand("flask")
	for _, c := range []*stack.Config{g, f} {
		t.Run(c.App.Template, func(t *testing.T) {
			text, err := RenderSlotUnit(c, 3)
			if err != nil {
				t.Fatal(err)
			}
			root := t.TempDir()
			for _, slot := range []string{"a", "b"} {
				rel := filepath.Join(root, c.Nginx.AppDir, "releases", "r1")
				// What a release runs: the Go binary, or the virtualenv's python.
				mustWrite(t, filepath.Join(rel, "bin", c.Name), "#!/bin/sh\n", 0o755)
				mustWrite(t, filepath.Join(rel, ".venv/bin/python"), "#!/bin/sh\n", 0o755)
				if err := os.MkdirAll(filepath.Join(root, c.Nginx.AppDir, "slots"), 0o755); err != nil {
					t.Fatal(err)
				}
				_ = os.Symlink("../releases/r1", filepath.Join(root, c.Nginx.AppDir, "slots", slot))
			}
			unit := "/etc/systemd/system/" + c.Deploy.Service + "@.service"
			mustWrite(t, filepath.Join(root, unit), string(text), 0o644)
			instance := "/etc/systemd/system/" + c.Deploy.Service + "@a.service"
			if out, err := verifyUnitFile(t, sa, root, instance); err != nil || out != "" {
				t.Fatalf("systemd-analyze verify %s: %v\n%s\n%s", instance, err, out, text)
			}
			mustWrite(t, filepath.Join(root, unit), string(text)+"Environment=\"UNTERMINATED\n", 0o644)
			if out, err := verifyUnitFile(t, sa, root, instance); err == nil {
				t.Errorf("a broken unit passed systemd-analyze verify:\n%s", out)
			}
		})
	}
}
