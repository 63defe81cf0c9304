package cmd

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/hosttest"
)

// Interrupts as a terminal sends them, to a real stackctl deploying to a
// real server during the new release's health wait: Ctrl-C twice and a
// closed terminal (SIGHUP) both put the host back whole — the old release
// serves, every file as before, no lock — because the undo's ssh commands
// run in process groups of their own, out of the terminal's reach. A third
// Ctrl-C stops at once, says what is left, and the next deploy goes on.
func TestDeploySignalsRevert(t *testing.T) {
	t.Parallel()
	cl := hosttest.Start(t, "web1")
	c, path := serverProject(t, cl, "web1")
	bin := filepath.Join(t.TempDir(), "stackctl")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("build stackctl: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "deploy", "--config", path).CombinedOutput(); err != nil {
		t.Fatalf("first deploy: %v\n%s", err, out)
	}
	// Stopping a slot takes 5s, so the second and third Ctrl-C land while the
	// undo's `systemctl stop` runs.
	cl.SSH(t, "web1", `mkdir -p /etc/systemd/system/myapp@.service.d && printf '[Service]\nExecStop=/bin/sleep 5\n' >/etc/systemd/system/myapp@.service.d/slow-stop.conf && systemctl daemon-reload`)
	before := serverSnapshot(t, cl)
	// The next release never answers its health check: deploy waits.
	c.App.Health = "/no-such-page"
	c.Deploy.HealthTimeout = "90s"
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name string
		sigs []syscall.Signal
	}{
		{"Ctrl-C twice", []syscall.Signal{syscall.SIGINT, syscall.SIGINT}},
		{"SIGHUP", []syscall.Signal{syscall.SIGHUP}},
	} {
		code, out := interruptDeploy(t, cl, bin, path, tt.sigs)
		t.Logf("%s: exit %d\n%s", tt.name, code, out)
		if code == 0 || code == 130 || !strings.Contains(out, "the old release keeps serving; every file is as it was") {
			t.Errorf("%s: exit %d, want a deploy undone:\n%s", tt.name, code, out)
		}
		if after := serverSnapshot(t, cl); after != before {
			t.Errorf("%s changed the host:\n--- before\n%s\n--- after\n%s", tt.name, before, after)
		}
		if code, body := siteBody(t, cl); code != 200 || !strings.Contains(body, "Hello, World!") {
			t.Errorf("%s: the old release does not serve: %d %q", tt.name, code, body)
		}
	}

	// A third Ctrl-C: out at once, saying what is left; the next deploy
	// takes over the lock and finishes or reverts what was cut off.
	code, out := interruptDeploy(t, cl, bin, path, []syscall.Signal{syscall.SIGINT, syscall.SIGINT, syscall.SIGINT})
	t.Logf("three Ctrl-C: exit %d\n%s", code, out)
	if code != 130 || !strings.Contains(out, "Left:\n  web1: the deploy lock of myapp stays (/var/lib/stackctl/myapp/lock)") || !strings.Contains(out, "The next 'stackctl deploy'") {
		t.Errorf("three Ctrl-C: exit %d, want 130 and what is left:\n%s", code, out)
	}
	if code, body := siteBody(t, cl); code != 200 || !strings.Contains(body, "Hello, World!") {
		t.Errorf("after three Ctrl-C the old release does not serve: %d %q", code, body)
	}
	// The lock stays, but its process is gone: the next deploy from this
	// machine takes it over with no manual step.
	c.App.Health = "/healthz"
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "deploy", "--config", path).CombinedOutput(); err != nil || !strings.Contains(string(out), "outlived its process: taking it over") {
		t.Errorf("the deploy after three Ctrl-C: %v\n%s", err, out)
	}
	if code, _ := siteBody(t, cl); code != 200 {
		t.Errorf("after the next deploy GET / = %d", code)
	}
}

// interruptDeploy starts `stackctl deploy` as a terminal's foreground job
// (a process group of its own), and once the new slot runs sends sigs to
// the whole group, as a terminal does: the second while the undo stops
// the new slot, the third 300ms later; it returns the exit status and the
// output.
func interruptDeploy(t *testing.T, cl *hosttest.Cluster, bin, path string, sigs []syscall.Signal) (int, string) {
	t.Helper()
	// A change, so that deploy has a release to send.
	page := filepath.Join(filepath.Dir(path), "templates", "index.html")
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, append(data, fmt.Sprintf("<!-- %d -->\n", time.Now().UnixNano())...), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "deploy", "--config", path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for i := 0; ; i++ {
		if st, _ := cl.TrySSH("web1", "systemctl is-active myapp@b.service myapp@a.service"); strings.HasPrefix(st, "active\nactive") {
			break
		}
		select {
		case <-done:
			t.Fatalf("deploy ended before the new slot ran:\n%s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if i == 600 {
			t.Fatalf("the new slot never ran:\n%s", out.String())
		}
	}
	time.Sleep(500 * time.Millisecond) // in the health wait
	for i, sig := range sigs {
		if i == 1 {
			// The undo is stopping the new slot: its ssh command runs.
			for j := 0; j < 200; j++ {
				if st, _ := cl.TrySSH("web1", "systemctl is-active myapp@b.service"); strings.TrimSpace(st) == "deactivating" {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		if i > 1 {
			time.Sleep(300 * time.Millisecond)
		}
		syscall.Kill(-cmd.Process.Pid, sig)
	}
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		t.Fatalf("deploy did not end 3 minutes after %v:\n%s", sigs, out.String())
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// serverSnapshot lists every file deploy manages on web1 with checksums,
// the slots' states and the lock.
func serverSnapshot(t *testing.T, cl *hosttest.Cluster) string {
	t.Helper()
	return cl.SSH(t, "web1", `cd / && find etc/stackctl etc/systemd/system etc/nginx srv var/lib/stackctl \
		\( -path var/lib/stackctl/'*'/backups -prune \) -o \( -path '*/.venv' -prune \) -o -print 2>/dev/null | LC_ALL=C sort | while read -r f; do
		if [ -L "$f" ]; then echo "$f -> $(readlink "$f")"; elif [ -f "$f" ]; then echo "$f $(sha256sum <"$f" | cut -c1-16) $(stat -c %a "$f")"; else echo "$f/"; fi
	done; systemctl is-active myapp@a.service myapp@b.service || true`)
}

// siteBody asks web1's nginx for / with the site's Host.
func siteBody(t *testing.T, cl *hosttest.Cluster) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+cl.Host("web1").Addr+"/", nil)
	req.Host = "app.test"
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET /: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
