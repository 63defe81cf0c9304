package deploy

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/hosttest"
	"github.com/stackctl/stackctl/internal/nginx"
	"github.com/stackctl/stackctl/internal/stack"
)

// installSingleUnit puts c on the server the way the single-unit engine
// left a machine — its files in nginx.app_dir, <service>.service on
// app.port, its environment file, the site pointing at app.port, the file
// it flocks as its lock — and starts it.
func installSingleUnit(t *testing.T, cl *hosttest.Cluster, name string, c *stack.Config) {
	t.Helper()
	files, _, err := BuildApp(context.Background(), RealSystem(), c)
	if err != nil {
		t.Fatal(err)
	}
	unit, err := RenderUnit(c, UnitOptions{Gunicorn: "/usr/bin/gunicorn", Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	site, err := nginx.Render(c, nginx.Options{NginxVersion: "1.22.1", StackctlVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, data []byte, mode int64) {
		tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(name, "/"), Mode: mode, Size: int64(len(data))})
		tw.Write(data)
	}
	for _, f := range files {
		add(path.Join(c.Nginx.AppDir, f.Rel), f.Data, int64(f.Mode.Perm()))
	}
	add(unit.EnvFile, unit.EnvData, 0o600)
	add("/etc/systemd/system/"+unit.Name, unit.Text, 0o644)
	add("/etc/nginx/sites-available/"+c.Name+".conf", site, 0o644)
	tw.Close()
	script := `set -e
tar -C / --no-same-owner -xf -
ln -sfn /etc/nginx/sites-available/$0.conf /etc/nginx/sites-enabled/$0.conf
mkdir -p /var/lib/stackctl/$0 && : >/var/lib/stackctl/$0/lock
useradd --system --user-group --no-create-home --home-dir /srv/$0 --shell /usr/sbin/nologin $1
systemctl daemon-reload
systemctl enable --now $2
nginx -t 2>&1
systemctl reload nginx`
	cmd := exec.Command("ssh", "-F", cl.SSHConfig, name, "--", "sh -c "+shQuote(script)+" "+c.Name+" "+c.Deploy.User+" "+unit.Name)
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install the single-unit deploy: %v\n%s", err, out)
	}
}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// A server deployed by the single-unit engine, reached with --host: a
// program squatting slot b's port stops the deploy before any change;
// once it is gone, the first release deploy takes the server over under
// load with no failed request — slot b, then the old unit stopped and
// disabled, its file kept in the backups.
func TestHostTakeoverOfSingleUnit(t *testing.T) {
	cl := hosttest.Start(t, "web1")
	web1 := cl.Host("web1")
	c := serverProject(t, "myapp", "go")
	installSingleUnit(t, cl, "web1", c)
	waitFor(t, 30*time.Second, func() error {
		if code, body := getSite(t, web1.Addr, "/"); code != 200 || !strings.Contains(body, "Hello, World!") {
			return fmt.Errorf("the single-unit deploy does not serve: %d %q", code, body)
		}
		return nil
	})
	o := hostOpts(c, dial(t, cl, "deploy", "web1"), nil)

	portB := strconv.Itoa(SlotPort(c, "b"))
	// A program that only listens (http.server would look its name up in a
	// DNS the test server has not).
	cl.SSH(t, "web1", "systemd-run --unit=squatter python3 -c 'import socket, time; s = socket.socket(); s.bind((\"127.0.0.1\", "+portB+")); s.listen(); time.sleep(3600)' && "+
		"for i in $(seq 50); do bash -c 'exec 3<>/dev/tcp/127.0.0.1/"+portB+"' 2>/dev/null && exit 0; sleep 0.1; done; exit 1")
	// The single-unit engine's free lock file is replaced by the release
	// engine's lock, taken before the host is read: a lock, not state.
	withoutLock := func(s string) string {
		return regexp.MustCompile(`(?m)^var/lib/stackctl/myapp/lock .*\n`).ReplaceAllString(s, "")
	}
	before := withoutLock(hostSnapshot(t, cl, "web1"))
	var out bytes.Buffer
	o.Out = &out
	err := DeployHosts(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "port "+portB+", which slot b of myapp runs on, is taken by another program; nothing was changed") {
		t.Fatalf("deploy with slot b's port taken: %v\n%s", err, out.String())
	}
	if after := withoutLock(hostSnapshot(t, cl, "web1")); after != before {
		t.Errorf("the refused deploy changed the server:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	cl.SSH(t, "web1", "systemctl stop squatter")

	l := hosttest.StartLoad(t, web1.Addr, "app.test", "/healthz", 4)
	got := deployOK(t, o)
	l.Check(t, "takeover over ssh")
	if !strings.Contains(got, "healthy on slot b") || !strings.Contains(got, "took over from the earlier single-unit deploy: myapp.service is stopped and disabled") {
		t.Errorf("takeover output:\n%s", got)
	}
	state := cl.SSH(t, "web1", "systemctl is-active myapp.service || true; test -e /etc/systemd/system/myapp.service && echo unit-file-left; ls /var/lib/stackctl/myapp/backups/*-takeover/; systemctl is-active myapp@b.service")
	if !strings.HasPrefix(state, "inactive\n") || strings.Contains(state, "unit-file-left") || !strings.Contains(state, "myapp.service\nactive") {
		t.Errorf("after the takeover:\n%s", state)
	}
}
