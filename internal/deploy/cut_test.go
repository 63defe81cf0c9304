//go:build unix

package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/hosttest"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// Environment of the child process the cut tests start.
const (
	cutConfigEnv = "STACKCTL_TEST_CUT_CONFIG"
	cutHostEnv   = "STACKCTL_TEST_CUT_HOST" // comma-separated app hosts
	cutLBEnv     = "STACKCTL_TEST_CUT_LB"
	cutSSHEnv    = "STACKCTL_TEST_CUT_SSH_CONFIG"
	cutCmdEnv    = "STACKCTL_TEST_CUT_COMMAND" // "deploy" (default) or "rollback"
	// cutHoldEnv names a file: once connected, the child writes it and
	// waits for FILE.go before it starts the command.
	cutHoldEnv = "STACKCTL_TEST_CUT_HOLD"
)

// TestHelperCutDeploy is the child process of the cut tests, not a test of
// its own: a deploy (or a rollback) that fails at the step boundary
// STACKCTL_FAULT_AT names — killed with SIGKILL, or, with
// STACKCTL_FAULT_MODE=drop, losing its SSH connection there and going on.
// It prints "result: ERR" when it ran to the end.
func TestHelperCutDeploy(t *testing.T) {
	cfg := os.Getenv(cutConfigEnv)
	if cfg == "" {
		t.Skip("the child process of the cut tests")
	}
	c, err := stack.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ssh := host.SSHOptions{Config: os.Getenv(cutSSHEnv)}
	var hs []host.Host
	for _, n := range strings.Split(os.Getenv(cutHostEnv), ",") {
		h, err := host.Dial(context.Background(), n, ssh)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	o := HostsOptions{Config: c, Hosts: hs, Out: os.Stdout, Colors: ui.NewPalette(false), RenderSite: renderServerSite,
		HealthTimeout: 20 * time.Second, DrainTimeout: 20 * time.Second}
	if lb := os.Getenv(cutLBEnv); lb != "" {
		if o.LB, err = host.Dial(context.Background(), lb, ssh); err != nil {
			t.Fatal(err)
		}
	}
	if hold := os.Getenv(cutHoldEnv); hold != "" {
		os.WriteFile(hold, nil, 0o644)
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if _, err := os.Stat(hold + ".go"); err == nil {
				break
			}
		}
	}
	if os.Getenv(cutCmdEnv) == "rollback" {
		err = RollbackHosts(context.Background(), o, "")
	} else {
		err = DeployHosts(context.Background(), o)
	}
	fmt.Printf("result: %v\n", err)
	if os.Getenv(faultModeEnv) != "drop" {
		t.Fatalf("the %s ran past the fault point %s: %v", os.Getenv(cutCmdEnv), os.Getenv(faultEnv), err)
	}
}

// cutChild runs command ("deploy" or "rollback") of c on hosts (behind lb
// when set) in a child process that fails at step: SIGKILL, or mode
// "drop". It returns the child's output, and fails the test when the
// fault did not happen at the step.
func cutChild(t *testing.T, cl *hosttest.Cluster, c *stack.Config, command, step, mode string, hosts []string, lb string) string {
	t.Helper()
	return cutChildHeld(t, cl, c, command, step, mode, hosts, lb, nil)
}

// cutChildHeld is cutChild that, when connected calls connected (with
// the child's connections open) before the command starts.
func cutChildHeld(t *testing.T, cl *hosttest.Cluster, c *stack.Config, command, step, mode string, hosts []string, lb string, connected func()) string {
	t.Helper()
	child := exec.Command(os.Args[0], "-test.run=^TestHelperCutDeploy$", "-test.count=1", "-test.v")
	child.Env = append(os.Environ(), faultEnv+"="+step, faultModeEnv+"="+mode, cutCmdEnv+"="+command, cutConfigEnv+"="+c.Path,
		cutHostEnv+"="+strings.Join(hosts, ","), cutLBEnv+"="+lb, cutSSHEnv+"="+cl.SSHConfig)
	hold := filepath.Join(t.TempDir(), "connected")
	if connected != nil {
		child.Env = append(child.Env, cutHoldEnv+"="+hold)
	}
	var out bytes.Buffer
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	if connected != nil {
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if _, err := os.Stat(hold); err == nil {
				break
			}
		}
		connected()
		os.WriteFile(hold+".go", nil, 0o644)
	}
	err := child.Wait()
	var ee *exec.ExitError
	killed := errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
	if mode == "drop" {
		if killed || !strings.Contains(out.String(), "fault: dropped the connection") {
			t.Fatalf("%s: the child %s did not drop its connection at the step: %v\n%s", step, command, err, out.String())
		}
	} else if !killed {
		t.Fatalf("%s: the child %s was not killed at the step: %v\n%s", step, command, err, out.String())
	}
	return out.String()
}

// childResult is the "result:" line of a child's output: what its
// command returned after a dropped connection.
func childResult(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if r, ok := strings.CutPrefix(l, "result: "); ok {
			if r == "<nil>" {
				return "went on over a new connection and succeeded"
			}
			if len(r) > 160 {
				r = r[:160] + "…"
			}
			return "failed: " + r
		}
	}
	return "(no result)"
}

// recoveryLines are the lines of a command's output that say what it did
// with a cut-off command's lock and record.
func recoveryLines(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "↻") || strings.Contains(l, "↺") || strings.Contains(l, "outlived its process") {
			keep = append(keep, strings.Join(strings.Fields(l), " "))
		}
	}
	if len(keep) == 0 {
		return "(nothing to converge)"
	}
	return strings.Join(keep, " | ")
}

// A deploy killed with SIGKILL at each boundary of its flow, under a
// browser-like load through nginx: no request fails, `status` tells the
// truth (healthy, and the record a cut-off command left), and the next
// deploy — taking over the dead process's lock — finishes or reverts the
// cut-off one from what the host shows and succeeds with no manual step.
func TestHostDeployCut(t *testing.T) {
	t.Parallel()
	cl := hosttest.Start(t, "web1")
	web1 := cl.Host("web1")
	c := serverProject(t, "myapp", "go")
	o := hostOpts(c, dial(t, cl, "", "web1"), nil)
	deployOK(t, o)
	l := hosttest.StartLoad(t, web1.Addr, "app.test", "/healthz", 4)
	css := filepath.Join(c.Dir(), "static", "style.css")
	static := "initial"
	os.WriteFile(css, []byte("/* initial */\n"), 0o644)
	deployOK(t, o)
	for _, step := range []string{"recorded", "prepared", "installed", "started", "switched", "recorded-current"} {
		setHello(t, c, "Hello, "+step+"!")
		os.WriteFile(css, []byte("/* "+step+" */\n"), 0o644)
		ok0, failed0 := l.Counts()
		before := readState(t, cl, c, "web1")
		cutChild(t, cl, c, "deploy", step, "", []string{"web1"}, "")
		_, cut := served(t, cl, c, "web1")
		// Static files switch with the upstream, in nginx's reload: before
		// the switch the old release's, after it the new one's.
		if step == "switched" || step == "recorded-current" {
			static = step
		}
		if _, body := getSite(t, web1.Addr, "/static/style.css"); body != "/* "+static+" */\n" {
			t.Errorf("%s: after the cut /static/style.css = %q, want the %s release's", step, body, static)
		}
		sts, err := Status(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		st := sts[0]
		if !HealthyStatus(st.Health) || st.Slots[st.Slot] != "active" || !strings.Contains(strings.Join(st.Problems, "; "), "cut-off command") {
			t.Errorf("%s: status after the cut: %+v, want the site healthy and the record reported", step, st)
		}
		out2 := deployOK(t, o)
		ok1, failed1 := l.Counts()
		t.Logf("TABLE | 1 host | deploy %s | SIGKILL | %d | %d | %s", step, ok1-ok0+failed1-failed0, failed1-failed0, recoveryLines(out2))
		// Every switch is in the history: the cut deploy's, when the
		// next one finished it, then the next deploy's.
		want := slices.Clone(before.History)
		if strings.Contains(out2, "↻") {
			want = append(want, cut)
		}
		after := readState(t, cl, c, "web1")
		if len(want) == 0 || want[len(want)-1] != after.Current {
			want = append(want, after.Current) // not when it had no changes
		}
		if !slices.Equal(after.History, want) {
			t.Errorf("%s: history %v, want %v", step, after.History, want)
		}
		if !strings.Contains(out2, "outlived its process") {
			t.Errorf("%s: the next deploy should take over the dead deploy's lock:\n%s", step, out2)
		}
		if _, body := getSite(t, web1.Addr, "/"); !strings.Contains(body, "Hello, "+step+"!") {
			t.Errorf("%s: after the next deploy GET / = %q", step, body)
		}
		static = step
		if _, body := getSite(t, web1.Addr, "/static/style.css"); body != "/* "+step+" */\n" {
			t.Errorf("%s: after the next deploy /static/style.css = %q", step, body)
		}
		if left := cl.SSH(t, "web1", "ls -A /var/lib/stackctl/myapp/ /srv/myapp/releases/ | grep -E 'journal|lock|\\.tmp' || true"); left != "" {
			t.Errorf("%s: left behind: %s", step, left)
		}
	}
	l.Check(t, "deploys killed at each step")
}
