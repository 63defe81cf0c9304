//go:build linux

package supervise

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// buildProject copies the test app into a new project folder that serve
// builds with the Go template's defaults (go build -o .stackctl/app .).
func buildProject(t *testing.T) (*Options, string) {
	t.Helper()
	c := newConfig(t)
	c.App.Build = "go build -o .stackctl/app ."
	c.App.Command = ".stackctl/app"
	if err := copyTestApp(c.Dir()); err != nil {
		t.Fatal(err)
	}
	return &Options{Config: c, Watch: true, Debounce: 50 * time.Millisecond}, filepath.Join(c.Dir(), "main.go")
}

// setVersion rewrites the test app's version constant.
func setVersion(t *testing.T, file, version string) {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(src), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "const version = ") {
			lines[i] = `const version = "` + version + `"`
		}
	}
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReloadOnFileChange(t *testing.T) {
	t.Parallel() // mostly waiting for the Go linker
	opts, mainGo := buildProject(t)
	h := start(t, *opts)
	addrs := h.waitReady("the first build", anyAddrs)
	h.waitOutput("    app | building…")
	v1 := info(t, addrs[0])
	if v1.version != "v1" {
		t.Fatalf("version %q", v1.version)
	}

	setVersion(t, mainGo, "v2")
	next := h.waitReady("the new version", func(a []string) bool { return len(a) == 1 && a[0] != addrs[0] })
	v2 := info(t, next[0])
	if v2.version != "v2" || v2.pid == v1.pid {
		t.Errorf("after the change: %+v, want v2 in a new process (old %+v)", v2, v1)
	}
	h.waitOutput("main.go changed; reloading")
	h.waitOutput("now serving the new version")
	// The new version runs on a fresh port above app.port+replicas.
	if want := opts.Config.App.Port + 1; !strings.HasSuffix(next[0], ":"+itoa(want)) {
		t.Errorf("new version on %s, want port %d", next[0], want)
	}
	waitGone(t, v1.pid)

	// Changes the watcher ignores reload nothing: the next reload comes
	// from the change after them, and it is the only one.
	os.WriteFile(filepath.Join(opts.Config.Dir(), "debug.log"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(opts.Config.Dir(), ".main.go.swp"), []byte("x"), 0o644)
	os.WriteFile(opts.Config.Path, []byte("name = \"testapp\"\n"), 0o644)
	setVersion(t, mainGo, "v3")
	third := h.waitReady("v3", func(a []string) bool { return len(a) == 1 && a[0] != next[0] })
	if got := info(t, third[0]).version; got != "v3" {
		t.Errorf("version %q, want v3", got)
	}
	if n := strings.Count(h.out.String(), "; reloading"); n != 2 {
		t.Errorf("%d reloads for 2 changes to main.go:\n%s", n, h.out)
	}
}

func TestFailedBuildKeepsTheOldVersionServing(t *testing.T) {
	t.Parallel() // mostly waiting for the Go linker
	opts, mainGo := buildProject(t)
	h := start(t, *opts)
	addrs := h.waitReady("the first build", anyAddrs)
	v1 := info(t, addrs[0])

	src, _ := os.ReadFile(mainGo)
	broken := strings.Replace(string(src), "func main() {", "func main() {\n\tundefinedThing()", 1)
	os.WriteFile(mainGo, []byte(broken), 0o644)
	h.waitOutput("build failed (exit status 1); still serving the previous version — fix the error and save to rebuild")
	if !strings.Contains(h.out.String(), "    app | ./main.go:") || !strings.Contains(h.out.String(), "undefined: undefinedThing") {
		t.Errorf("the compiler's errors are not shown:\n%s", h.out)
	}
	if !strings.Contains(strings.Join(h.sup.LastLines(10), "\n"), "undefined: undefinedThing") {
		t.Errorf("LastLines lacks the compiler's errors: %q", h.sup.LastLines(10))
	}
	if now := info(t, addrs[0]); now.pid != v1.pid || now.version != "v1" {
		t.Errorf("after a failed build %+v answers, want the old %+v", now, v1)
	}

	// Fixing it brings the new version in.
	os.WriteFile(mainGo, src, 0o644)
	setVersion(t, mainGo, "fixed")
	next := h.waitReady("the fixed version", func(a []string) bool { return len(a) == 1 && a[0] != addrs[0] })
	if got := info(t, next[0]).version; got != "fixed" {
		t.Errorf("version %q, want fixed", got)
	}
}

func TestFirstBuildFailsThenAChangeStartsTheApp(t *testing.T) {
	t.Parallel() // mostly waiting for the Go linker
	opts, mainGo := buildProject(t)
	src, _ := os.ReadFile(mainGo)
	os.WriteFile(mainGo, []byte(strings.Replace(string(src), "func main() {", "func main() {\n\tx :=", 1)), 0o644)
	h := start(t, *opts)
	h.waitOutput("build failed (exit status 1) — fix the error and save to rebuild")
	os.WriteFile(mainGo, src, 0o644)
	addrs := h.waitReady("the app after the fix", anyAddrs)
	if got := info(t, addrs[0]).version; got != "v1" {
		t.Errorf("version %q", got)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
