//go:build linux

package supervise

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const flaskApp = `import os
from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    return "venv=%s debug=%s" % (os.environ.get("VIA_VENV", "no"), app.debug)


@app.get("/healthz")
def healthz():
    return "ok"
`

// The Flask template's default command, with and without the project's
// .venv, and with the debugger turned off when serve is public.
func TestFlaskApp(t *testing.T) {
	if err := exec.Command("python3", "-c", "import flask").Run(); err != nil {
		t.Skip("Flask is not installed (apt-get install python3-flask)")
	}
	tests := []struct {
		name   string
		venv   bool
		public bool
		want   string
	}{
		{"debug on loopback", false, false, "venv=no debug=True"},
		{"public: debug off, .venv used", true, true, "venv=yes debug=False"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConfig(t)
			c.App.Template = "flask"
			c.App.Build = ""
			c.App.Command = "python3 -m flask --app app run --debug --no-reload --host $HOST --port $PORT"
			os.WriteFile(filepath.Join(c.Dir(), "app.py"), []byte(flaskApp), 0o644)
			if tt.venv {
				bin := filepath.Join(c.Dir(), ".venv", "bin")
				os.MkdirAll(bin, 0o755)
				// A stand-in virtualenv python that marks the environment.
				script := "#!/bin/sh\nVIA_VENV=yes exec python3 \"$@\"\n"
				if err := os.WriteFile(filepath.Join(bin, "python"), []byte(script), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			h := start(t, Options{Config: c, Public: tt.public})
			addrs := h.waitReady("the Flask app", anyAddrs)
			if got := get(t, addrs[0], "/"); got != tt.want {
				t.Errorf("GET / = %q, want %q", got, tt.want)
			}
			warned := strings.Contains(h.out.String(), "the Flask debugger is off")
			if warned != tt.public {
				t.Errorf("debugger warning shown: %v, want %v\n%s", warned, tt.public, h.out)
			}
		})
	}
}

func TestCommandThatCannotStartIsRetried(t *testing.T) {
	c := newConfig(t)
	c.App.Command = "/nonexistent/app --port $PORT"
	h := start(t, Options{Config: c})
	h.waitOutput("app | cannot start the app: fork/exec /nonexistent/app: no such file or directory; restarting in 0.1s")
	h.waitOutput("app | cannot start the app: fork/exec /nonexistent/app: no such file or directory; restarting in 0.2s")
}
