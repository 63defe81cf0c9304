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
// writes, answers the cursor-position queries survey's line editor sends,
// and types answers.
//
// survey asks where the cursor is twice before it reads a line (the
// terminal size, then the position) and drops any key that arrives in the
// same read as the second answer. Keys typed before that query are kept.
// So the console answers size queries at once, and answers a position
// query together with the keys of the line: the keys first, then the
// answer, in one write. A position query that arrives before the test
// typed its line is held until it does.
type console struct {
	t   *testing.T
	ptm *os.File
	mu  sync.Mutex
	raw bytes.Buffer
	// seen is how many queries were read; held how many wait for keys.
	seen, held int
	keys       string // typed before the next position query is answered
	pos        int    // how far expect has consumed the stripped output
	done       chan struct{}
}

const (
	dsrQuery  = "\x1b[6n"
	dsrAnswer = "\x1b[24;80R"
	// sizeQuery is how survey asks for the terminal size: move to the far
	// corner, then ask where the cursor is.
	sizeQuery = "\x1b[999;999f\x1b[6n"
)

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
				c.answer()
				c.mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
	return c
}

// exited waits (at most timeout) for the command's exit status on code
// and fails the test, showing the terminal, unless it is 0.
func (c *console) exited(code <-chan int, what string, timeout time.Duration) {
	c.t.Helper()
	select {
	case status := <-code:
		if status != 0 {
			c.t.Fatalf("%s: exit %d; terminal:\n%s", what, status, c.text())
		}
	case <-time.After(timeout):
		c.t.Fatalf("%s did not end; terminal:\n%s", what, c.text())
	}
}

// close closes the terminal's far end tty and waits (at most 5s) until
// everything written to it was read.
func (c *console) close(tty *os.File) {
	tty.Close()
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
	}
}

// answer answers the queries not seen yet; c.mu is held.
func (c *console) answer() {
	raw := c.raw.String()
	all := strings.Count(raw, dsrQuery)
	for ; c.seen < all; c.seen++ {
		// Find the end of query number c.seen.
		end := 0
		for range c.seen + 1 {
			end += strings.Index(raw[end:], dsrQuery) + len(dsrQuery)
		}
		switch {
		case strings.HasSuffix(raw[:end], sizeQuery):
			c.ptm.Write([]byte(dsrAnswer))
		case c.keys != "":
			c.ptm.Write([]byte(c.keys + dsrAnswer))
			c.keys = ""
		default:
			c.held++
		}
	}
}

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]`)

// strip removes escape sequences.
func strip(raw string) string { return ansiRE.ReplaceAllString(raw, "") }

func (c *console) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := strip(c.raw.String())
	return out
}

// expect waits until s appears in the output after the previous match.
func (c *console) expect(s string) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c.mu.Lock()
		out := strip(c.raw.String())
		c.mu.Unlock()
		if i := strings.Index(out[min(c.pos, len(out)):], s); i >= 0 {
			c.pos += i + len(s)
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("waited 15s for %q; terminal shows:\n%s\nraw: %q", s, out[min(c.pos, len(out)):], c.raw.String()[max(0, c.raw.Len()-600):])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// line types an answer and Enter into the line editor that shows the last
// expected text.
func (c *console) line(s string) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys != "" {
		c.t.Fatalf("typing %q while %q was not read yet", s, c.keys)
	}
	if c.held > 0 {
		c.held--
		if _, err := c.ptm.Write([]byte(s + "\r" + dsrAnswer)); err != nil {
			c.t.Fatal(err)
		}
		return
	}
	c.keys = s + "\r"
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

	con.exited(code, "stackctl new", 15*time.Second)
	con.close(tty)

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
