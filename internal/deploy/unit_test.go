package deploy

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/stack"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/deploy -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n%s", name, UnifiedDiff(p, "got", want, got))
	}
}

// unitConfigs are the configs whose units are pinned: a Go app with
// arguments and an environment that needs every kind of quoting, and a
// Flask app.
func unitConfigs() map[string]*stack.Config {
	g := stack.Default("myapp", "go")
	g.App.Command = `.stackctl/app -addr $HOST:$PORT -banner "50% off; $5" ;`
	g.App.Env = map[string]string{
		"GREETING": "hello world",
		"QUOTED":   `say "hi" \ bye`,
		"PERCENT":  "100%d",
		"DOLLAR":   "$HOME",
		"UNICODE":  "héllo\ttab",
	}
	f := stack.Default("flaskapp", "flask")
	f.App.Port = 5001
	f.Deploy.User = "www-flask"
	f.Nginx.AppDir = "/opt/flaskapp"
	return map[string]*stack.Config{"go": g, "flask": f}
}

func TestRenderUnitGolden(t *testing.T) {
	for kind, c := range unitConfigs() {
		t.Run(kind, func(t *testing.T) {
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			u, err := RenderUnit(c, UnitOptions{Gunicorn: "/usr/bin/gunicorn", Workers: 5})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, c.Name+".service", u.Text)
			text := string(u.Text)
			for _, want := range []string{"User=" + c.Deploy.User + "\n", "WorkingDirectory=" + c.Nginx.AppDir + "\n", "Restart=on-failure\n", "NoNewPrivileges=yes\n", "ProtectSystem=strict\n", "PrivateTmp=yes\n", "ProtectHome=yes\n"} {
				if !strings.Contains(text, want) {
					t.Errorf("unit lacks %q", want)
				}
			}
			if kind == "flask" {
				want := []string{"/usr/bin/gunicorn", "-w", "5", "-b", "127.0.0.1:5001", "wsgi:app"}
				if strings.Join(u.Argv, " ") != strings.Join(want, " ") {
					t.Errorf("Argv = %q, want %q", u.Argv, want)
				}
				if strings.Contains(text, "--debug") || strings.Contains(text, "flask run") {
					t.Error("the Flask unit runs the debug server")
				}
			} else {
				want := []string{"/srv/myapp/bin/myapp", "-addr", "127.0.0.1:5000", "-banner", "50% off; $5", ";"}
				if strings.Join(u.Argv, "|") != strings.Join(want, "|") {
					t.Errorf("Argv = %q, want %q", u.Argv, want)
				}
			}
		})
	}
}

func TestRenderUnitRejects(t *testing.T) {
	c := stack.Default("myapp", "go")
	c.App.Env = map[string]string{"PORT": "1"}
	if _, err := RenderUnit(c, UnitOptions{}); err == nil || !strings.Contains(err.Error(), "app.env.PORT") {
		t.Errorf("PORT in app.env: err = %v", err)
	}
	c = stack.Default("myapp", "go")
	c.App.Command = `.stackctl/app "unterminated`
	if _, err := RenderUnit(c, UnitOptions{}); err == nil || !strings.Contains(err.Error(), "app.command") {
		t.Errorf("bad quoting in app.command: err = %v", err)
	}
	f := stack.Default("f", "flask")
	if _, err := RenderUnit(f, UnitOptions{Gunicorn: "gunicorn"}); err == nil {
		t.Error("a relative gunicorn path: no error")
	}
}

// systemd itself accepts the units: systemd-analyze verify, run against a
// root holding the unit and the programs it starts.
func TestUnitPassesSystemdAnalyzeVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (apt-get install systemd)")
	}
	for kind, c := range unitConfigs() {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			u, err := RenderUnit(c, UnitOptions{Gunicorn: "/usr/bin/gunicorn", Workers: 3})
			if err != nil {
				t.Fatal(err)
			}
			mustWrite(t, filepath.Join(root, u.Argv[0]), "#!/bin/sh\n", 0o755)
			mustWrite(t, filepath.Join(root, c.Nginx.AppDir, "README"), "", 0o644)
			unitPath := "/etc/systemd/system/" + u.Name
			mustWrite(t, filepath.Join(root, unitPath), string(u.Text), 0o644)
			out, err := verifyUnitFile(t, sa, root, unitPath)
			if err != nil || out != "" {
				t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
			}
			// The check can fail: a broken line is reported.
			mustWrite(t, filepath.Join(root, unitPath), string(u.Text)+"Environment=\"UNTERMINATED\n", 0o644)
			if out, err := verifyUnitFile(t, sa, root, unitPath); err == nil {
				t.Errorf("a broken unit passed systemd-analyze verify:\n%s", out)
			}
		})
	}
}

func verifyUnitFile(t *testing.T, sa, root, unit string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, sa, "verify", "--recursive-errors=no", "--root="+root, unit).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
