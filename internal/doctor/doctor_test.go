package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// fakeEnv is a machine described by tables: which programs exist, what
// they print, which addresses are taken, which folders exist and which may
// be written.
type fakeEnv struct {
	programs map[string]string // name -> path
	outputs  map[string]string // "path args..." -> output
	failing  map[string]bool   // "path args..." -> exits non-zero
	busy     map[string]bool   // address -> in use
	dirs     map[string]bool   // existing folders
	readOnly map[string]bool   // folders not writable
	listened []string
}

func healthyMachine() *fakeEnv {
	return &fakeEnv{
		programs: map[string]string{"go": "/usr/local/go/bin/go", "nginx": "/usr/sbin/nginx", "python3": "/usr/bin/python3", "gunicorn": "/usr/bin/gunicorn"},
		outputs: map[string]string{
			"/usr/local/go/bin/go version": "go version go1.26.8 linux/amd64\n",
			"/usr/sbin/nginx -v":           "nginx version: nginx/1.22.1\n",
			"/usr/sbin/nginx -V":           "nginx version: nginx/1.22.1\nconfigure arguments: --prefix=/usr/share/nginx --conf-path=/nonexistent/nginx.conf\n",
			"/usr/sbin/nginx -t":           "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\nnginx: configuration file /etc/nginx/nginx.conf test is successful\n",
			"/usr/bin/python3 --version":   "Python 3.11.2\n",
			`/usr/bin/python3 -c import importlib.metadata as m; print(m.version("flask"))`: "2.2.2\n",
			"/usr/bin/gunicorn --version": "gunicorn (version 20.1.0)\n",
		},
		failing:  map[string]bool{},
		busy:     map[string]bool{},
		dirs:     map[string]bool{"/": true, "/srv": true, "/etc/systemd/system": true, "/var/lib": true, "/run/systemd/system": true},
		readOnly: map[string]bool{},
	}
}

type closer struct{}

func (closer) Close() error { return nil }

func (f *fakeEnv) env() Env {
	return Env{
		LookPath: func(name string) (string, error) {
			if p, ok := f.programs[name]; ok {
				return p, nil
			}
			return "", errors.New("executable file not found in $PATH")
		},
		Run: func(_ context.Context, name string, args ...string) (string, error) {
			key := strings.Join(append([]string{name}, args...), " ")
			out, ok := f.outputs[key]
			if !ok {
				return "", errors.New("fake: unexpected command " + key)
			}
			if f.failing[key] {
				return out, errors.New("exit status 1")
			}
			return out, nil
		},
		Listen: func(_, addr string) (io.Closer, error) {
			f.listened = append(f.listened, addr)
			if f.busy[addr] {
				return nil, &os.SyscallError{Syscall: "bind", Err: syscall.EADDRINUSE}
			}
			return closer{}, nil
		},
		Stat: func(p string) (fs.FileInfo, error) {
			if f.dirs[p] {
				return nil, nil
			}
			return nil, fs.ErrNotExist
		},
		Writable: func(dir string) error {
			if f.readOnly[dir] {
				return syscall.EACCES
			}
			return nil
		},
	}
}

func find(t *testing.T, r Report, name string) Check {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in %+v", name, r.Checks)
	return Check{}
}

func goProject() *stack.Config {
	c := stack.Default("myapp", "go")
	c.Path = "/nonexistent/myapp/stack.toml"
	return c
}

func flaskProject() *stack.Config {
	c := stack.Default("myapp", "flask")
	c.Path = "/nonexistent/myapp/stack.toml"
	return c
}

func TestEverythingPasses(t *testing.T) {
	for _, c := range []*stack.Config{goProject(), flaskProject()} {
		f := healthyMachine()
		r := Run(context.Background(), Options{Config: c, ConfigPath: c.Path, Env: f.env()})
		if !r.OK {
			t.Errorf("%s: report not OK: %+v", c.App.Template, r.Checks)
		}
		for _, ch := range r.Checks {
			if ch.Status != OK {
				t.Errorf("%s: %s = %s (%s)", c.App.Template, ch.Name, ch.Status, ch.Detail)
			}
		}
		if c.App.Template == "flask" {
			if got := find(t, r, "gunicorn").Detail; !strings.Contains(got, "20.1.0") {
				t.Errorf("gunicorn detail %q", got)
			}
		} else if got := find(t, r, "go").Detail; !strings.Contains(got, "go1.26.8") {
			t.Errorf("go detail %q", got)
		}
	}
}

// Each required check fails on its own and makes the report fail, with a fix.
func TestEachRequiredCheckFails(t *testing.T) {
	cases := []struct {
		name   string
		flask  bool
		break_ func(f *fakeEnv)
		check  string
		fix    string
	}{
		{"go missing", false, func(f *fakeEnv) { delete(f.programs, "go") }, "go", "go.dev/dl"},
		{"go too old", false, func(f *fakeEnv) { f.outputs["/usr/local/go/bin/go version"] = "go version go1.21.5 linux/amd64" }, "go", "1.22"},
		{"nginx missing", false, func(f *fakeEnv) { delete(f.programs, "nginx") }, "nginx", "apt-get install nginx"},
		{"nginx -t fails", false, func(f *fakeEnv) {
			f.outputs["/usr/sbin/nginx -t"] = "nginx: [emerg] unknown directive \"bogus\" in /etc/nginx/sites-enabled/x:3\nnginx: configuration file /etc/nginx/nginx.conf test failed\n"
			f.failing["/usr/sbin/nginx -t"] = true
		}, "nginx -t", "fix the file and line"},
		{"nginx -t as non-root", false, func(f *fakeEnv) {
			f.outputs["/usr/sbin/nginx -t"] = "nginx: [alert] could not open error log file: open() \"/var/log/nginx/error.log\" failed (13: Permission denied)\n"
			f.failing["/usr/sbin/nginx -t"] = true
		}, "nginx -t", "sudo"},
		{"python3 missing", true, func(f *fakeEnv) { delete(f.programs, "python3") }, "python3", "apt-get install python3"},
		{"flask missing", true, func(f *fakeEnv) {
			f.failing[`/usr/bin/python3 -c import importlib.metadata as m; print(m.version("flask"))`] = true
			f.outputs[`/usr/bin/python3 -c import importlib.metadata as m; print(m.version("flask"))`] = "importlib.metadata.PackageNotFoundError: No package metadata was found for flask"
		}, "flask", "python3-flask"},
		{"gunicorn missing", true, func(f *fakeEnv) { delete(f.programs, "gunicorn") }, "gunicorn", "apt-get install gunicorn"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := healthyMachine()
			tc.break_(f)
			c := goProject()
			if tc.flask {
				c = flaskProject()
			}
			r := Run(context.Background(), Options{Config: c, ConfigPath: c.Path, Env: f.env()})
			if r.OK {
				t.Error("report OK despite the failure")
			}
			ch := find(t, r, tc.check)
			if ch.Status != Fail || !ch.Required {
				t.Errorf("%s: status %s required %v", ch.Name, ch.Status, ch.Required)
			}
			if !strings.Contains(ch.Fix, tc.fix) {
				t.Errorf("fix %q does not mention %q", ch.Fix, tc.fix)
			}
			for _, other := range r.Checks {
				if other.Name != tc.check && other.Status == Fail {
					t.Errorf("%s failed too: %s", other.Name, other.Detail)
				}
			}
		})
	}
}

func TestInvalidOrMissingStackToml(t *testing.T) {
	f := healthyMachine()
	_, err := stack.Parse([]byte("name = \"x\"\n[app]\nport = 70000\n"), "stack.toml")
	r := Run(context.Background(), Options{ConfigPath: "/p/stack.toml", ConfigErr: err, Env: f.env()})
	ch := find(t, r, "stack.toml")
	if r.OK || ch.Status != Fail || !strings.Contains(ch.Detail, "stack.toml:3: app.port") {
		t.Errorf("invalid stack.toml: ok=%v %+v", r.OK, ch)
	}
	r = Run(context.Background(), Options{Env: f.env()})
	if ch := find(t, r, "stack.toml"); !r.OK || ch.Status != Skip {
		t.Errorf("no stack.toml: ok=%v %+v", r.OK, ch)
	}
	// Without a project there are no port or path checks, but Go and nginx are checked.
	find(t, r, "go")
	find(t, r, "nginx -t")
	for _, c := range r.Checks {
		if strings.HasPrefix(c.Name, "port ") || strings.HasPrefix(c.Name, "write ") {
			t.Errorf("project check %q ran without a project", c.Name)
		}
	}
}

func TestBusyPortsAndReadOnlyPathsWarn(t *testing.T) {
	f := healthyMachine()
	c := goProject()
	c.App.Replicas = 2
	f.busy["127.0.0.1:5001"] = true
	f.readOnly["/srv"] = true
	r := Run(context.Background(), Options{Config: c, Env: f.env()})
	if !r.OK {
		t.Error("warnings made the report fail")
	}
	want := []string{"127.0.0.1:8080", "127.0.0.1:5000", "127.0.0.1:5001"}
	if strings.Join(f.listened, ",") != strings.Join(want, ",") {
		t.Errorf("listened on %v, want %v", f.listened, want)
	}
	if ch := find(t, r, "port 5000"); ch.Status != OK {
		t.Errorf("free port: %+v", ch)
	}
	ch := find(t, r, "port 5001")
	if ch.Status != Warn || !strings.Contains(ch.Detail, "address already in use") || !strings.Contains(ch.Fix, "app.port") {
		t.Errorf("busy port: %+v", ch)
	}
	// /srv/myapp does not exist: its parent /srv is what must be writable.
	ch = find(t, r, "write nginx.app_dir")
	if ch.Status != Warn || !strings.Contains(ch.Detail, "cannot write /srv") || !strings.Contains(ch.Fix, "sudo") {
		t.Errorf("read-only app_dir: %+v", ch)
	}
	if ch := find(t, r, "write systemd unit"); ch.Status != OK {
		t.Errorf("writable unit folder: %+v", ch)
	}
	delete(f.dirs, "/run/systemd/system")
	r = Run(context.Background(), Options{Config: c, Env: f.env()})
	if ch := find(t, r, "systemd"); !r.OK || ch.Status != Warn || !strings.Contains(ch.Detail, "PID 1 is not systemd") {
		t.Errorf("no systemd: ok=%v %+v", r.OK, ch)
	}
}

func TestPrintAndJSON(t *testing.T) {
	f := healthyMachine()
	delete(f.programs, "nginx")
	r := Run(context.Background(), Options{Config: goProject(), Env: f.env()})
	var b bytes.Buffer
	r.Print(&b, ui.NewPalette(false))
	out := b.String()
	for _, want := range []string{"✓ go ", "✗ nginx ", "  fix: apt-get install nginx", "1 required check(s) failed."} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("color codes without a terminal")
	}
	b.Reset()
	r.Print(&b, ui.NewPalette(true))
	if !strings.Contains(b.String(), "\x1b[31m✗") {
		t.Errorf("no red ✗ with color on:\n%q", b.String())
	}
	b.Reset()
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.OK || len(back.Checks) != len(r.Checks) || find(t, back, "nginx").Fix != "apt-get install nginx" {
		t.Errorf("JSON round trip: %+v", back)
	}
}

// One real run on this machine: the checks complete, a port held by this
// test shows as busy, and the report is consistent with its checks.
func TestRealRun(t *testing.T) {
	dir := t.TempDir()
	c := stack.Default("realapp", "go")
	env := RealEnv()
	ln, err := env.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.(net.Listener).Addr().String()
	c.Serve.Listen = taken
	c.Nginx.AppDir = filepath.Join(dir, "srv", "realapp")
	c.Path = filepath.Join(dir, "stack.toml")
	if err := c.Save(c.Path); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := Run(ctx, Options{Config: c, ConfigPath: c.Path, Env: env})
	_, takenPort, _ := net.SplitHostPort(taken)
	ch := find(t, r, "port "+takenPort)
	if ch.Status != Warn {
		t.Errorf("a port this test holds is reported %s: %s", ch.Status, ch.Detail)
	}
	if ch := find(t, r, "write nginx.app_dir"); ch.Status != OK {
		t.Errorf("a temp folder is not writable: %+v", ch)
	}
	if _, err := os.Stat("/usr/local/go/bin/go"); err == nil {
		if ch := find(t, r, "go"); ch.Status != OK {
			t.Errorf("go is installed but: %+v", ch)
		}
	}
	ok := true
	for _, ch := range r.Checks {
		if ch.Status == Fail && ch.Required {
			ok = false
		}
	}
	if ok != r.OK {
		t.Errorf("report OK=%v but checks say %v", r.OK, ok)
	}
	var b bytes.Buffer
	r.Print(&b, ui.NewPalette(false))
	t.Logf("doctor on this machine:\n%s", b.String())
}
