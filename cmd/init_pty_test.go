//go:build unix

package cmd

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/testutil"
	"github.com/stackctl/stackctl/internal/ui"
)

// TestInitInteractive drives `stackctl init` through a real
// pseudo-terminal in a module with two programs: it is asked which one,
// picks the second with the arrow key, answers the settings, and the
// stack.toml builds that one.
func TestInitInteractive(t *testing.T) {
	ptm, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptm.Close()
	if err := pty.Setsize(ptm, &pty.Winsize{Rows: 24, Cols: 80}); err != nil {
		t.Fatal(err)
	}
	con := newConsole(t, ptm)
	dir := t.TempDir()
	testutil.WriteFiles(t, dir, map[string]string{
		"go.mod":              "module example.com/acme\n",
		"cmd/migrate/main.go": "package main\n\nimport \"os\"\n\nfunc main() { _ = os.Getenv(\"PORT\") }\n",
		"cmd/server/main.go":  "package main\n\nimport \"os\"\n\nfunc main() { _ = os.Getenv(\"PORT\") }\n",
	})

	io := &ui.IOStreams{In: tty, Out: tty, ErrOut: tty, InTTY: true, OutTTY: true, ErrTTY: true}
	f := &Factory{IO: io, Prompter: func() (ui.Prompter, error) { return ui.NewSurveyPrompter(io) }}
	code := make(chan int, 1)
	go func() { code <- run(f, NewRootCmd(f), []string{"init", dir, "--domain", "api.example.org"}) }()

	con.expect("Which of the Go main packages?")
	con.expect("./cmd/migrate  (package main in main.go)")
	con.expect("./cmd/server  (package main in main.go)")
	con.key("\x1b[B") // down: ./cmd/server
	con.key("\r")
	con.expect("App port:")
	con.expect("(5000)")
	con.line("99999")
	con.expect("99999 is not a port (1–65535)")
	con.line("5003")
	con.expect("Local proxy (stackctl serve) listens on:")
	con.expect("(127.0.0.1:8080)")
	con.line("9003")
	con.expect("Wrote ")
	con.expect("package main in ./cmd/server → Go")
	con.expect("Next steps")

	con.exited(code, "stackctl init", 15*time.Second)
	con.close(tty)
	c, err := stack.Load(filepath.Join(dir, stack.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "acme" || c.App.Build != "go build -o .stackctl/app ./cmd/server" || c.App.Port != 5003 || c.Serve.Listen != "127.0.0.1:9003" || c.Proxy.ServerNames[0] != "api.example.org" {
		t.Errorf("stack.toml holds %+v %+v", c.App, c.Serve)
	}
}
