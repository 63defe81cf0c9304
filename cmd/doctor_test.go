package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/doctor"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

func TestDoctorFlags(t *testing.T) {
	io, _, _, _ := ui.Test()
	f := &Factory{IO: io}
	var got *doctorOptions
	cmd := newCmdDoctorWith(f, func(_ context.Context, o *doctorOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--json", "--config", "x/stack.toml"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got == nil || !got.JSON || got.Config != "x/stack.toml" || got.Env.LookPath == nil {
		t.Errorf("options = %+v", got)
	}
	cmd = newCmdDoctorWith(f, func(context.Context, *doctorOptions) error { return nil })
	cmd.SetArgs([]string{"extra"})
	if err := cmd.Execute(); err == nil {
		t.Error("doctor took an argument")
	}
}

// noNginx is a machine with Go but without nginx.
func noNginx() doctor.Env {
	return doctor.Env{
		LookPath: func(n string) (string, error) {
			if n == "go" {
				return "/usr/bin/go", nil
			}
			return "", errors.New("not found")
		},
		Run: func(_ context.Context, name string, args ...string) (string, error) {
			return "go version go1.26.8 linux/amd64", nil
		},
		Listen:   func(string, string) (io.Closer, error) { return io.NopCloser(nil), nil },
		Stat:     func(string) (fs.FileInfo, error) { return nil, nil },
		Writable: func(string) error { return nil },
	}
}

// A missing requirement exits 1 through ui.ExitError, after printing the
// report; --json prints the same verdict.
func TestDoctorExitCode(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "stack.toml")
	if err := stack.Default("myapp", "go").Save(cfg); err != nil {
		t.Fatal(err)
	}
	ios, _, out, _ := ui.Test()
	err := runDoctor(context.Background(), &doctorOptions{IO: ios, Config: cfg, Env: noNginx()})
	if ui.ExitCode(err) != 1 {
		t.Fatalf("exit code %d (err %v), want 1", ui.ExitCode(err), err)
	}
	if !strings.Contains(out.String(), "✗ nginx") || !strings.Contains(out.String(), "✓ stack.toml") {
		t.Errorf("output:\n%s", out)
	}
	ios, _, out, _ = ui.Test()
	err = runDoctor(context.Background(), &doctorOptions{IO: ios, Config: cfg, JSON: true, Env: noNginx()})
	var r doctor.Report
	if jerr := json.Unmarshal(out.Bytes(), &r); jerr != nil || r.OK || ui.ExitCode(err) != 1 {
		t.Errorf("--json: ok=%v err=%v jerr=%v\n%s", r.OK, err, jerr, out)
	}
	// An invalid stack.toml is reported as a failed check, not a crash.
	if err := os.WriteFile(cfg, []byte("name = \"Bad Name\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ios, _, out, _ = ui.Test()
	err = runDoctor(context.Background(), &doctorOptions{IO: ios, Config: cfg, Env: noNginx()})
	if ui.ExitCode(err) != 1 || !strings.Contains(out.String(), "✗ stack.toml") || !strings.Contains(out.String(), "stack.toml:1: name") {
		t.Errorf("invalid stack.toml: err=%v\n%s", err, out)
	}
}
