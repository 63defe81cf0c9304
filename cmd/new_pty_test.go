//go:build unix

package cmd

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// console is the far side of a pseudo-terminal: it reads what the command
// writes, answers the terminal's cursor-position queries the way a real
// terminal does (survey asks for them before reading a line), and types.
type console struct {
	t    *testing.T
	ptm  *os.File
	mu   sync.Mutex
	raw  bytes.Buffer
	dsr  int // cursor-position queries answered
	pos  int // how far expect has consumed the stripped output
	mark int // dsr count when the last line was typed
	done chan struct{}
}

const dsrQuery = "\x1b[6n"

func newConsole(t *testing.T, ptm *os.File) *console {
	c := &console{t: t, ptm: ptm, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		buf := make([]byte, 4096)
		for {
			n, err := ptm.Read(buf)
			if n > 0 {
				c.mu.Lock()
				c.raw.Write(buf[:n])
				queries := strings.Count(c.raw.String(), dsrQuery)
				for c.dsr < queries {
					c.dsr++
					ptm.Write([]byte("\x1b[24;80R"))
				}
				c.mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
	return c
}

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]`)

func (c *console) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ansiRE.ReplaceAllString(c.raw.String(), "")
}

// expect waits until s appears in the output after the previous match.
func (c *console) expect(s string) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		out := c.text()
		if i := strings.Index(out[min(c.pos, len(out)):], s); i >= 0 {
			c.pos += i + len(s)
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("waited 15s for %q; terminal shows:\n%s", s, out[min(c.pos, len(out)):])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// line types an answer and Enter once the line editor has asked where the
// cursor is (two queries per line read), so keys never race the queries.
func (c *console) line(s string) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c.mu.Lock()
		ready := c.dsr >= c.mark+2
		if ready {
			c.mark = c.dsr
		}
		c.mu.Unlock()
		if ready {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("line editor never started for %q; terminal shows:\n%s", s, c.text())
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.key(s + "\r")
}

func (c *console) key(s string) {
	c.t.Helper()
	if _, err := c.ptm.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// TestNewInteractive drives `stackctl new` through a real pseudo-terminal:
// it answers every question, gives one bad port and sees it re-asked, asks
// for help once, and checks the project made from the answers.
func TestNewInteractive(t *testing.T) {
	ptm, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptm.Close()
	if err := pty.Setsize(ptm, &pty.Winsize{Rows: 24, Cols: 80}); err != nil {
		t.Fatal(err)
	}
	con := newConsole(t, ptm)

	io := &ui.IOStreams{In: tty, Out: tty, ErrOut: tty, InTTY: true, OutTTY: true, ErrTTY: true}
	f := &Factory{IO: io, Prompter: func() (ui.Prompter, error) { return ui.NewSurveyPrompter(io) }}
	dir := t.TempDir()
	code := make(chan int, 1)
	go func() { code <- run(f, NewRootCmd(f), []string{"new", "webshop", "--dir", dir}) }()

	con.expect("Template:")
	con.expect("go")
	con.key("\r") // the default, go
	con.expect("Go module path:")
	con.expect("(webshop)")
	con.line("example.com/me/webshop")
	con.expect("App port:")
	con.expect("(5000)")
	con.line("99999")
	con.expect("99999 is not a port (1–65535)")
	con.expect("App port:") // asked again
	con.line("5001")
	con.expect("Domain nginx serves:")
	con.line("?")
	con.expect("The domain nginx will serve")
	con.line("shop.example.org")
	con.expect("Local proxy (stackctl serve) listens on:")
	con.expect("(127.0.0.1:8080)")
	con.line("9001")
	con.expect("Include a static folder?")
	con.expect("(Y/n)")
	con.line("n")
	con.expect("Created webshop")
	con.expect("Next steps:")

	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit %d; terminal:\n%s", c, con.text())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("stackctl new did not finish; terminal:\n%s", con.text())
	}
	tty.Close()
	select {
	case <-con.done:
	case <-time.After(5 * time.Second):
	}

	target := filepath.Join(dir, "webshop")
	c, err := stack.Load(filepath.Join(target, "stack.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.App.Port != 5001 || c.Serve.Listen != "127.0.0.1:9001" || c.Proxy.ServerNames[0] != "shop.example.org" || len(c.Proxy.Static) != 0 || c.App.Template != "go" {
		t.Errorf("stack.toml holds %+v", c)
	}
	gomod, err := os.ReadFile(filepath.Join(target, "go.mod"))
	if err != nil || !strings.HasPrefix(string(gomod), "module example.com/me/webshop\n") {
		t.Errorf("go.mod = %q, %v", gomod, err)
	}
	if _, err := os.Stat(filepath.Join(target, "static")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("static/ after answering no: %v", err)
	}
}
