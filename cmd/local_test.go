package cmd

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/hosttest"
	"github.com/stackctl/stackctl/internal/nginxtest"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/scaffold"
)

// These tests run stackctl ON a real Debian 12 server (systemd as PID 1),
// with no hosts: deploy and the day-two commands act on "this machine"
// through the release engine (host.Local). The machine running go test
// has no systemd, so stackctl is cross-built and copied into the server
// with a Flask project (the server has no Go toolchain), and run there
// over ssh, as root and as a user with passwordless sudo.

// buildStackctl cross-builds stackctl for the test servers (linux/amd64,
// no cgo) into a temporary folder.
func buildStackctl(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "stackctl")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build stackctl for the test servers: %v\n%s", err, out)
	}
	return bin
}

// onServer is one server with stackctl and a project copied into it.
type onServer struct {
	t    *testing.T
	cl   *hosttest.Cluster
	name string
	c    *stack.Config // the project on this machine (edited, then copied again)
}

// sshAs runs command on the server as user with stdin, returning its
// combined output and exit status (255: ssh itself failed).
func (s *onServer) sshAs(user, command string, stdin io.Reader) (string, int) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", "-F", s.cl.SSHConfig, "-l", user, s.name, "--", command)
	cmd.Stdin = stdin
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("ssh %s@%s: %v", user, s.name, err)
	}
	return out.String(), code
}

// root runs command as root and fails the test when it fails.
func (s *onServer) root(command string) string {
	s.t.Helper()
	out, code := s.sshAs("root", command, nil)
	if code != 0 {
		s.t.Fatalf("%s: %q exited %d:\n%s", s.name, command, code, out)
	}
	return out
}

// copyProject puts the project's files in dir on the server, owned by user.
func (s *onServer) copyProject(dir, user string) {
	s.t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	root := s.c.Dir()
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Size: int64(len(data)), ModTime: fi.ModTime()})
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		s.t.Fatal(err)
	}
	tw.Close()
	cmd := "rm -rf " + dir + " && mkdir -p " + dir + " && tar -C " + dir + " --no-same-owner -xf - && chown -R " + user + ": " + dir
	if out, code := s.sshAs("root", cmd, &buf); code != 0 {
		s.t.Fatalf("copy the project: %s", out)
	}
}

// stackctl runs stackctl ARGS in the project folder dir as user; it
// returns the output and exit status, and logs both with the time taken.
func (s *onServer) stackctl(user, dir string, args ...string) (string, int) {
	s.t.Helper()
	start := time.Now()
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	out, code := s.sshAs(user, "cd "+dir+" && stackctl "+strings.Join(quoted, " "), nil)
	s.t.Logf("%s$ stackctl %s  (exit %d, %.1fs)\n%s", user, strings.Join(args, " "), code, time.Since(start).Seconds(), out)
	return out, code
}

// get asks the server's nginx for p with the site's Host header.
func (s *onServer) get(p string) (int, string) {
	s.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+s.cl.Host(s.name).Addr+p, nil)
	req.Host = "app.test"
	req.Header.Set("Accept", "text/html")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// setText replaces old with new in the project's file rel.
func (s *onServer) setText(rel, old, new string) {
	s.t.Helper()
	p := filepath.Join(s.c.Dir(), rel)
	data, err := os.ReadFile(p)
	if err != nil {
		s.t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(old)) {
		s.t.Fatalf("%s has no %q", rel, old)
	}
	if err := os.WriteFile(p, bytes.Replace(data, []byte(old), []byte(new), 1), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// snapshot lists every file deploy manages on the server with checksums,
// and the units' states, to compare before and after a refused deploy.
func (s *onServer) snapshot() string {
	s.t.Helper()
	// The releases' virtualenvs (thousands of pip's files) are left out:
	// a deploy never changes an existing one, and hashing them one process
	// per file took minutes on a loaded machine.
	return s.root(`cd / && find etc/stackctl etc/systemd/system etc/nginx srv var/lib/stackctl \
		\( -path var/lib/stackctl/'*'/backups -prune \) -o \( -path '*/.venv' -prune \) -o -print 2>/dev/null | LC_ALL=C sort | while read -r f; do
		if [ -L "$f" ]; then echo "$f -> $(readlink "$f")"; elif [ -f "$f" ]; then echo "$f $(sha256sum <"$f" | cut -c1-16) $(stat -c %a "$f")"; else echo "$f/"; fi
	done; systemctl is-active hello@a.service hello@b.service hello.service || true`)
}

// startServer boots a server and copies stackctl and a Flask project
// (name hello, site app.test, no hosts) into it, at /root/app.
func startServer(t *testing.T) *onServer {
	cl := hosttest.Start(t, "web1")
	bin := buildStackctl(t)
	dir := nginxtest.TempDir(t)
	o := scaffold.Defaults("hello")
	o.Dir = dir
	o.Template = "flask"
	o.Domain = "app.test"
	if _, err := scaffold.Create(o); err != nil {
		t.Fatal(err)
	}
	c, err := stack.Load(filepath.Join(dir, "hello", stack.FileName))
	if err != nil {
		t.Fatal(err)
	}
	s := &onServer{t: t, cl: cl, name: "web1", c: c}
	f, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if out, code := s.sshAs("root", "cat >/usr/local/bin/stackctl && chmod 755 /usr/local/bin/stackctl", f); code != 0 {
		t.Fatalf("copy stackctl: %s", out)
	}
	// No package index on the test servers: pip finds Flask and gunicorn
	// among Debian's packages (--system-site-packages) and nothing else.
	s.root(`printf '[global]\nno-index = true\n' >/etc/pip.conf`)
	s.copyProject("/root/app", "root")
	return s
}

var releaseLine = regexp.MustCompile(`release (\d{8}T\d{6}Z\S*) is current`)

// On a server whose systemd runs it, `stackctl deploy` without hosts is
// the release engine on this machine: it deploys, redeploys as a sudo
// user under load, lists releases, rolls back under load, refuses an
// unhealthy release (the old one keeps serving, every file as it was), and
// the day-two commands work without hosts; a user without sudo is refused
// with the fix.
func TestLocalDeployOnServer(t *testing.T) {
	t.Parallel()
	s := startServer(t)

	out, code := s.stackctl("root", "/root/app", "deploy")
	if code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, out)
	}
	for _, want := range []string{"this machine", "healthy on slot a", "nginx → slot a", "Roll back with: stackctl rollback\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "ssh ") || strings.Contains(out, "--host") {
		t.Errorf("output on this machine should not mention ssh or --host:\n%s", out)
	}
	first := releaseLine.FindStringSubmatch(out)
	if first == nil {
		t.Fatalf("no release id in:\n%s", out)
	}
	state := s.root(`systemctl is-active hello@a.service; readlink /srv/hello/current /srv/hello/slots/a
test -d /var/lib/stackctl/hello/lock && echo lock-left-behind
cat /var/lib/stackctl/hello/state.json`)
	for _, want := range []string{"active\nreleases/" + first[1], "../releases/" + first[1], `"slot": "a"`, `"current": "` + first[1] + `"`, `"by": "root@web1"`} {
		if !strings.Contains(state, want) {
			t.Errorf("after the deploy the server lacks %q:\n%s", want, state)
		}
	}
	if strings.Contains(state, "lock-left-behind") {
		t.Errorf("after the deploy: the lock is left behind\n%s", state)
	}

	// A one-line change deployed by a sudo user (sudo -n), under load.
	s.setText("templates/index.html", "Hello, World!", "Hello, two!")
	s.copyProject("/home/deploy/app", "deploy")
	l := hosttest.StartLoad(t, s.cl.Host("web1").Addr, "app.test", "/healthz", 4)
	out, code = s.stackctl("deploy", "/home/deploy/app", "deploy")
	l.Check(t, "redeploy by the sudo user")
	if code != 0 {
		t.Fatalf("deploy as the sudo user: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "nginx → slot b") || !strings.Contains(out, "virtualenv reused") {
		t.Errorf("the redeploy should switch to slot b and reuse the virtualenv:\n%s", out)
	}
	if code, body := s.get("/"); code != 200 || !strings.Contains(body, "Hello, two!") {
		t.Fatalf("after the redeploy GET / = %d %q", code, body)
	}
	second := releaseLine.FindStringSubmatch(out)
	if second == nil {
		t.Fatalf("no release id in:\n%s", out)
	}
	if st := s.root("cat /var/lib/stackctl/hello/state.json; systemctl is-active hello@a.service || true"); !strings.Contains(st, `"by": "deploy@web1"`) || !strings.HasSuffix(strings.TrimSpace(st), "inactive") {
		t.Errorf("state after the sudo user's deploy:\n%s", st)
	}

	// releases, from the root's copy of the project (same name, same host).
	out, code = s.stackctl("root", "/root/app", "releases")
	if code != 0 || !strings.Contains(out, "this machine") || !strings.Contains(out, first[1]) || !regexp.MustCompile(regexp.QuoteMeta(second[1])+`\s+\* slot b\s+\S+ \S+\s+deploy@web1`).MatchString(out) {
		t.Errorf("releases: exit %d\n%s", code, out)
	}

	// rollback, under load: back on the first release, slot a.
	l = hosttest.StartLoad(t, s.cl.Host("web1").Addr, "app.test", "/healthz", 4)
	out, code = s.stackctl("deploy", "/home/deploy/app", "rollback")
	l.Check(t, "rollback")
	if code != 0 || !strings.Contains(out, "Rolled back hello on this machine") {
		t.Fatalf("rollback: exit %d\n%s", code, out)
	}
	if code, body := s.get("/"); code != 200 || !strings.Contains(body, "Hello, World!") {
		t.Fatalf("after the rollback GET / = %d %q", code, body)
	}
	// rollback RELEASE goes forward again; deploy --rollback is rollback.
	for _, args := range [][]string{{"rollback", second[1]}, {"deploy", "--rollback"}, {"rollback", second[1]}} {
		out, code = s.stackctl("root", "/root/app", args...)
		if code != 0 || !strings.Contains(out, "Rolled back hello on this machine") {
			t.Fatalf("%s: exit %d\n%s", args, code, out)
		}
	}
	if code, body := s.get("/"); code != 200 || !strings.Contains(body, "Hello, two!") {
		t.Fatalf("after rolling forward GET / = %d %q", code, body)
	}

	// Day two without hosts.
	out, code = s.stackctl("root", "/root/app", "status")
	if code != 0 || !strings.Contains(out, "this machine  ✓ healthy") || !strings.Contains(out, "release  "+second[1]) {
		t.Errorf("status: exit %d\n%s", code, out)
	}
	out, code = s.stackctl("deploy", "/home/deploy/app", "env", "set", "GREETING_KEY=s3cr3t-value")
	if code != 0 {
		t.Errorf("env set: exit %d\n%s", code, out)
	}
	out, code = s.stackctl("deploy", "/home/deploy/app", "exec", "--", "sh", "-c", `id -un; echo "key=$GREETING_KEY"`)
	if code != 0 || !strings.Contains(out, "hello\n") || !strings.Contains(out, "key=s3cr3t-value") {
		t.Errorf("exec: exit %d\n%s", code, out)
	}
	out, code = s.stackctl("root", "/root/app", "logs", "-n", "20")
	if code != 0 || !strings.Contains(out, "this machine") {
		t.Errorf("logs: exit %d\n%s", code, out)
	}

	// An unhealthy release is refused after deploy.health_timeout: the
	// serving release and every file stay as they were.
	s.setText("app.py", `return Response("ok\n", mimetype="text/plain")`, `return Response("broken\n", status=500)`)
	s.setText("stack.toml", `health_timeout = "60s"`, `health_timeout = "4s"`)
	s.copyProject("/root/app", "root")
	before := s.snapshot()
	out, code = s.stackctl("root", "/root/app", "deploy")
	if code == 0 || !strings.Contains(out, "is not healthy on slot") || !strings.Contains(out, "within 4s") || !strings.Contains(out, "the old release keeps serving") {
		t.Errorf("unhealthy release: exit %d\n%s", code, out)
	}
	if after := s.snapshot(); after != before {
		t.Errorf("a refused release changed the server:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if code, body := s.get("/"); code != 200 || !strings.Contains(body, "Hello, two!") {
		t.Errorf("after the refused release GET / = %d %q", code, body)
	}

	// Refusals, with the fix.
	s.copyProject("/tmp/nosudo-app", "nosudo")
	out, code = s.stackctl("nosudo", "/tmp/nosudo-app", "status")
	if code == 0 || !strings.Contains(out, "nosudo is not root and sudo asks for a password") || !strings.Contains(out, "'nosudo ALL=(ALL) NOPASSWD: ALL'") {
		t.Errorf("a user without sudo: exit %d\n%s", code, out)
	}
}
