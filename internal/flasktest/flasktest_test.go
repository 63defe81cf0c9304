package flasktest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestInterpreter(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, script, want string
		wantErr            bool
	}{
		{"debian gunicorn", "#!/usr/bin/python3\n# -*- coding: utf-8 -*-\nimport re\n", "/usr/bin/python3", false},
		{"with an option", "#! /usr/bin/python3 -I\n", "/usr/bin/python3", false},
		{"env", "#!/usr/bin/env python3\n", "python3", false},
		{"env -S", "#!/usr/bin/env -S python3 -u\n", "python3", false},
		{"binary", "\x7fELF\x02\x01\x01", "", true},
		{"empty #!", "#!\n", "", true},
		{"env alone", "#!/usr/bin/env\n", "", true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, "script"+string(rune('a'+i)))
			if err := os.WriteFile(p, []byte(tt.script), 0o755); err != nil {
				t.Fatal(err)
			}
			got, err := interpreter(p)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("interpreter(%q) = %q, %v; want %q, error %v", tt.script, got, err, tt.want, tt.wantErr)
			}
		})
	}
	if _, err := interpreter(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file: no error")
	}
}

// A python3 that cannot import Flask is reported with Python's own reason.
func TestProbeWithoutFlask(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "python3")
	script := "#!/bin/sh\necho 'Traceback (most recent call last):' >&2\necho \"ModuleNotFoundError: No module named 'flask'\" >&2\nexit 1\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := probe(fake)
	if err == nil || !strings.Contains(err.Error(), "No module named 'flask'") || strings.Contains(err.Error(), "Traceback") {
		t.Errorf("probe = %v, want the ModuleNotFoundError line", err)
	}
}

func TestPythons(t *testing.T) {
	ps := Pythons(t)
	seen := map[string]bool{}
	for _, p := range ps {
		if seen[p.Executable] {
			t.Errorf("%s listed twice", p.Executable)
		}
		seen[p.Executable] = true
		out, err := exec.Command(p.Path, "-c", "import flask; print('ok')").Output()
		if err != nil || strings.TrimSpace(string(out)) != "ok" {
			t.Errorf("%s cannot import flask: %v %s", p, err, out)
		}
		if p.Flask == "" || !strings.Contains(p.String(), p.Flask) {
			t.Errorf("String() = %q", p.String())
		}
	}
	if _, err := os.Stat(DebianPython); err == nil && exec.Command(DebianPython, "-c", "import flask").Run() == nil {
		if !seen[DebianPython] {
			t.Errorf("Debian's python3 has Flask but is not in %v", ps)
		}
	}
}

func TestRequireGunicorn(t *testing.T) {
	bin := RequireGunicorn(t)
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "gunicorn") {
		t.Errorf("%s --version: %v %s", bin, err, out)
	}
}

func TestRequirePython(t *testing.T) {
	p := RequirePython(t)
	if p.Path != "python3" || p.Executable == "" || p.Flask == "" {
		t.Errorf("RequirePython = %+v", p)
	}
}
