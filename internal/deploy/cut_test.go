//go:build unix

package deploy

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/hosttest"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// Environment of the child process TestHostDeployCut starts.
const (
	cutConfigEnv = "STACKCTL_TEST_CUT_CONFIG"
	cutHostEnv   = "STACKCTL_TEST_CUT_HOST"
	cutSSHEnv    = "STACKCTL_TEST_CUT_SSH_CONFIG"
)

// TestHelperCutDeploy is the child process of TestHostDeployCut, not a test
// of its own: a deploy that kills itself with SIGKILL at the step boundary
// STACKCTL_FAULT_AT names.
func TestHelperCutDeploy(t *testing.T) {
	cfg := os.Getenv(cutConfigEnv)
	if cfg == "" {
		t.Skip("the child process of TestHostDeployCut")
	}
	c, err := stack.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.Dial(context.Background(), os.Getenv(cutHostEnv), host.SSHOptions{Config: os.Getenv(cutSSHEnv)})
	if err != nil {
		t.Fatal(err)
	}
	o := HostsOptions{Config: c, Hosts: []host.Host{h}, Out: os.Stdout, Colors: ui.NewPalette(false), RenderSite: renderServerSite,
		HealthTimeout: 20 * time.Second, DrainTimeout: 20 * time.Second}
	err = DeployHosts(context.Background(), o)
	t.Fatalf("the deploy ran past the fault point %s: %v", os.Getenv(faultEnv), err)
}

// A deploy killed with SIGKILL at each boundary of its flow, under a
// browser-like load through nginx: no request fails, `status` tells the
// truth (healthy, and the record a cut-off command left), and the next
// deploy — taking over the dead process's lock — finishes or reverts the
// cut-off one from what the host shows and succeeds with no manual step.
func TestHostDeployCut(t *testing.T) {
	cl := hosttest.Start(t, "web1")
	web1 := cl.Host("web1")
	c := serverProject(t, "myapp", "go")
	o := hostOpts(c, dial(t, cl, "", "web1"), nil)
	deployOK(t, o)
	l := hosttest.StartLoad(t, web1.Addr, "app.test", "/healthz", 4)
	css := filepath.Join(c.Dir(), "static", "style.css")
	served := "initial"
	os.WriteFile(css, []byte("/* initial */\n"), 0o644)
	deployOK(t, o)
	for _, step := range []string{"recorded", "prepared", "installed", "started", "switched", "recorded-current"} {
		setHello(t, c, "Hello, "+step+"!")
		os.WriteFile(css, []byte("/* "+step+" */\n"), 0o644)
		child := exec.Command(os.Args[0], "-test.run=^TestHelperCutDeploy$", "-test.count=1")
		child.Env = append(os.Environ(), faultEnv+"="+step, cutConfigEnv+"="+c.Path, cutHostEnv+"=web1", cutSSHEnv+"="+cl.SSHConfig)
		out, err := child.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("%s: the child deploy was not killed at the step: %v\n%s", step, err, out)
		}
		// Static files switch with the upstream, in nginx's reload: before
		// the switch the old release's, after it the new one's.
		if step == "switched" || step == "recorded-current" {
			served = step
		}
		if _, body := getSite(t, web1.Addr, "/static/style.css"); body != "/* "+served+" */\n" {
			t.Errorf("%s: after the cut /static/style.css = %q, want the %s release's", step, body, served)
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
		if !strings.Contains(out2, "outlived its process") {
			t.Errorf("%s: the next deploy should take over the dead deploy's lock:\n%s", step, out2)
		}
		if _, body := getSite(t, web1.Addr, "/"); !strings.Contains(body, "Hello, "+step+"!") {
			t.Errorf("%s: after the next deploy GET / = %q", step, body)
		}
		served = step
		if _, body := getSite(t, web1.Addr, "/static/style.css"); body != "/* "+step+" */\n" {
			t.Errorf("%s: after the next deploy /static/style.css = %q", step, body)
		}
		if left := cl.SSH(t, "web1", "ls -A /var/lib/stackctl/myapp/ /srv/myapp/releases/ | grep -E 'journal|lock|\\.tmp' || true"); left != "" {
			t.Errorf("%s: left behind: %s", step, left)
		}
	}
	l.Check(t, "deploys killed at each step")
}
