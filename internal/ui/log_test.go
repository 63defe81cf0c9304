package ui

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestLogMuxPrefixesAndAligns(t *testing.T) {
	var out bytes.Buffer
	m := NewLogMux(&out, false)
	proxy, app := m.Writer("proxy"), m.Writer("app")
	fmt.Fprint(proxy, "listening on http://127.0.0.1:8080\n")
	fmt.Fprint(app, "building…\nready in 0.9s")
	fmt.Fprint(app, " (GET /healthz 200)\n")
	want := "  proxy | listening on http://127.0.0.1:8080\n" +
		"    app | building…\n" +
		"    app | ready in 0.9s (GET /healthz 200)\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestLogMuxHoldsPartialLineUntilFlush(t *testing.T) {
	var out bytes.Buffer
	w := NewLogMux(&out, false).Writer("app")
	fmt.Fprint(w, "no newline yet")
	if out.Len() != 0 {
		t.Fatalf("partial line written early: %q", out.String())
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "    app | no newline yet\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if err := w.Flush(); err != nil || out.String() != "    app | no newline yet\n" {
		t.Errorf("second Flush wrote again: %q %v", out.String(), err)
	}
}

func TestLogMuxBreaksEndlessLine(t *testing.T) {
	var out bytes.Buffer
	w := NewLogMux(&out, false).Writer("app")
	long := strings.Repeat("x", maxPartialLine+10)
	fmt.Fprint(w, long)
	if got, want := out.String(), "    app | "+long+"\n"; got != want {
		t.Errorf("endless line not written out as one line: got %d bytes, want %d", len(got), len(want))
	}
}

func TestLogMuxColorsOnlyWhenOn(t *testing.T) {
	var plain, colored bytes.Buffer
	fmt.Fprint(NewLogMux(&plain, false).Writer("app"), "hi\n")
	m := NewLogMux(&colored, true)
	fmt.Fprint(m.Writer("proxy"), "hi\n")
	fmt.Fprint(m.Writer("app"), "hi\n")
	if strings.Contains(plain.String(), "\x1b[") {
		t.Errorf("color codes with color off: %q", plain.String())
	}
	lines := strings.Split(colored.String(), "\n")
	// foreman-style: each name its own color, the text itself uncolored.
	if !strings.HasPrefix(lines[0], "\x1b[36m  proxy | \x1b[0m") || !strings.HasSuffix(lines[0], "hi") {
		t.Errorf("proxy line = %q, want cyan prefix", lines[0])
	}
	if !strings.HasPrefix(lines[1], "\x1b[33m    app | \x1b[0m") {
		t.Errorf("app line = %q, want yellow prefix", lines[1])
	}
}

// Lines written concurrently by several writers (one writing each line in
// pieces, others whole lines from several goroutines) come out whole, each
// under its own prefix.
func TestLogMuxConcurrentWritersKeepLinesWhole(t *testing.T) {
	var out bytes.Buffer
	m := NewLogMux(&out, false)
	var wg sync.WaitGroup
	write := func(w *PrefixWriter, name string, g int, pieces bool) {
		defer wg.Done()
		for i := range 200 {
			line := fmt.Sprintf("%s-g%d-line%d-%s\n", name, g, i, strings.Repeat("y", i%50))
			if !pieces {
				w.Write([]byte(line))
				continue
			}
			a, b := len(line)/3, 2*len(line)/3
			w.Write([]byte(line[:a]))
			w.Write([]byte(line[a:b]))
			w.Write([]byte(line[b:]))
		}
	}
	wg.Add(7)
	go write(m.Writer("app.1"), "app.1", 0, true)
	for _, name := range []string{"app.2", "proxy"} {
		w := m.Writer(name)
		for g := range 3 {
			go write(w, name, g, false)
		}
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 7*200 {
		t.Fatalf("%d lines, want %d", len(lines), 7*200)
	}
	lineRE := regexp.MustCompile(`^  (app\.[12]|proxy) \| (app\.[12]|proxy)-g\d-line(\d+)-(y*)$`)
	for _, l := range lines {
		m := lineRE.FindStringSubmatch(l)
		if m == nil || m[1] != m[2] {
			t.Fatalf("mixed or misprefixed line: %q", l)
		}
		if n, _ := strconv.Atoi(m[3]); len(m[4]) != n%50 {
			t.Fatalf("line cut or joined: %q", l)
		}
	}
}
