package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/hosttest"
	"github.com/stackctl/stackctl/internal/stack"
)

// Two deploys started together against one real host, as from two
// laptops (two projects, two connections): the lock is taken before the
// host is read, so they never interleave. Without --lock-wait one is
// refused, naming the holder; with it the second waits and deploys after
// the first from what the host then shows, with no failed request. Either
// way the host ends consistent: one slot runs, nginx and state.json agree
// on it, and nginx serves the current release.
func TestHostConcurrentDeploys(t *testing.T) {
	t.Parallel()
	cl := hosttest.Start(t, "web1")
	web1 := cl.Host("web1")
	ca := serverProject(t, "myapp", "go")
	cb := serverProject(t, "myapp", "go")
	oa := hostOpts(ca, dial(t, cl, "", "web1"), nil)
	ob := hostOpts(cb, dial(t, cl, "", "web1"), nil)
	oa.By, ob.By = "alice@laptop", "bob@laptop"
	deployOK(t, oa)

	// Without --lock-wait: one deploys, the other is refused.
	setHello(t, ca, "Hello, A1!")
	setHello(t, cb, "Hello, B1!")
	errs, outs := deployTogether(oa, ob)
	var refused, won int
	for i, err := range errs {
		switch {
		case err == nil:
			won = i
		case errors.Is(err, errLockHeld) && strings.Contains(err.Error(), "holds the deploy lock of myapp"):
			refused++
			if !strings.Contains(err.Error(), []string{"bob@laptop", "alice@laptop"}[i]) {
				t.Errorf("the refusal does not name the other deploy as the holder: %v", err)
			}
		default:
			t.Errorf("deploy %d: %v\n%s", i, err, outs[i])
		}
	}
	if refused != 1 {
		t.Fatalf("%d deploys refused, want 1:\n%v\n%s\n%s", refused, errs, outs[0], outs[1])
	}
	checkConsistent(t, cl, web1.Addr, []string{"Hello, A1!", "Hello, B1!"}[won])

	// With --lock-wait: both deploy, one after the other.
	setHello(t, ca, "Hello, A2!")
	setHello(t, cb, "Hello, B2!")
	oa.LockWait, ob.LockWait = 2*time.Minute, 2*time.Minute
	l := hosttest.StartLoad(t, web1.Addr, "app.test", "/healthz", 4)
	errs, outs = deployTogether(oa, ob)
	// The second deploy reads the host after the first finished: it never
	// restarts the slot that serves, so no request fails.
	l.Check(t, "two deploys with --lock-wait")
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("deploys with --lock-wait: %v\n%s\n%s", err, outs[0], outs[1])
	}
	if !strings.Contains(outs[0]+outs[1], "waiting up to 2m0s for the deploy lock") {
		t.Errorf("neither deploy said it waited:\n%s\n%s", outs[0], outs[1])
	}
	last := "Hello, B2!"
	if strings.Contains(outs[0], "waiting up to") {
		last = "Hello, A2!"
	}
	st := checkConsistent(t, cl, web1.Addr, last)
	if n := len(st.History); n < 2 || st.History[n-1] == st.History[n-2] {
		t.Errorf("history %v: the two deploys did not both switch", st.History)
	}
}

// deployTogether starts a deploy of each options at the same moment and
// returns their errors and outputs.
func deployTogether(os ...HostsOptions) ([]error, []string) {
	errs := make([]error, len(os))
	outs := make([]string, len(os))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, o := range os {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out bytes.Buffer
			o.Out = &out
			<-start
			errs[i] = DeployHosts(context.Background(), o)
			outs[i] = out.String()
		}()
	}
	close(start)
	wg.Wait()
	return errs, outs
}

// checkConsistent checks that one slot runs, that nginx's upstream,
// the current link and state.json agree on it, and that nginx serves
// want; it returns state.json.
func checkConsistent(t *testing.T, cl *hosttest.Cluster, addr, want string) hostState {
	t.Helper()
	out := cl.SSH(t, "web1", `cat /var/lib/stackctl/myapp/state.json; echo '%%'; readlink /srv/myapp/current; readlink /srv/myapp/slots/a /srv/myapp/slots/b; grep -o 'server [^ ;]*' /etc/stackctl/myapp/upstream.conf; systemctl is-active myapp@a.service myapp@b.service || true; ls /var/lib/stackctl/myapp`)
	js, rest, _ := strings.Cut(out, "%%")
	var st hostState
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		t.Fatalf("state.json: %v\n%s", err, out)
	}
	port := 5000
	if st.Slot == "b" {
		port += stack.SlotOffset
	}
	active := map[string]bool{"a": strings.Contains(rest, "\nactive\ninactive"), "b": strings.Contains(rest, "\ninactive\nactive")}
	switch {
	case !strings.Contains(rest, "releases/"+st.Current+"\n"):
		t.Errorf("the current link does not point at state.json's current %s:\n%s", st.Current, out)
	case !strings.Contains(rest, fmt.Sprintf("server 127.0.0.1:%d", port)):
		t.Errorf("nginx does not send requests to state.json's slot %s (:%d):\n%s", st.Slot, port, out)
	case !active[st.Slot]:
		t.Errorf("slot %s is not the one slot running:\n%s", st.Slot, out)
	case strings.Contains(rest, "lock"):
		t.Errorf("a lock is left:\n%s", out)
	}
	if code, body := getSite(t, addr, "/"); code != 200 || !strings.Contains(body, want) {
		t.Errorf("nginx serves %d %q, want %q", code, body, want)
	}
	return st
}
