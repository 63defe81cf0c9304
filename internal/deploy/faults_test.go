//go:build unix

package deploy

import (
	"context"
	"encoding/json"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/hosttest"
	"github.com/stackctl/stackctl/internal/stack"
)

// served is what a host's nginx sends traffic to, read on the host: the
// slot its upstream file names and the release that slot's link points at.
func served(t *testing.T, cl *hosttest.Cluster, c *stack.Config, name string) (slot, release string) {
	t.Helper()
	l := NewHostLayout(c)
	out := cl.SSH(t, name, "cat "+l.UpstreamFile()+"; echo; echo links; readlink "+l.SlotLink("a")+" || echo none; readlink "+l.SlotLink("b")+" || echo none")
	up, links, _ := strings.Cut(out, "links")
	targets := strings.Fields(links)
	for i, s := range Slots {
		if regexp.MustCompile(`:`+strconv.Itoa(SlotPort(c, s))+`\b`).MatchString(up) && i < len(targets) {
			return s, path.Base(targets[i])
		}
	}
	t.Fatalf("%s: nginx's upstream names no slot:\n%s", name, out)
	return "", ""
}

// readState reads a host's state.json.
func readState(t *testing.T, cl *hosttest.Cluster, c *stack.Config, name string) hostState {
	t.Helper()
	var s hostState
	if err := json.Unmarshal([]byte(cl.SSH(t, name, "cat "+NewHostLayout(c).StateFile())), &s); err != nil {
		t.Fatalf("%s: state.json: %v", name, err)
	}
	return s
}

// checkStatusTruth checks what `status` says of the app hosts names after
// a cut against the hosts themselves: the release and slot nginx serves,
// healthy, and the record of a cut-off command reported exactly when the
// host keeps one.
func checkStatusTruth(t *testing.T, cl *hosttest.Cluster, o HostsOptions, step string, names ...string) {
	t.Helper()
	sts, err := Status(context.Background(), o)
	if err != nil {
		t.Fatalf("%s: status: %v", step, err)
	}
	for _, st := range sts {
		if st.Role == "lb" {
			if !st.Healthy {
				t.Errorf("%s: status of the lb: %+v", step, st)
			}
			continue
		}
		if !slices.Contains(names, st.Host) {
			continue
		}
		slot, release := served(t, cl, o.Config, st.Host)
		kept := strings.TrimSpace(cl.SSH(t, st.Host, "test -e "+NewHostLayout(o.Config).Journal()+" && echo kept || true")) == "kept"
		told := strings.Contains(strings.Join(st.Problems, "; "), "cut-off command")
		if st.Slot != slot || st.Release != release || !HealthyStatus(st.Health) || st.Slots[slot] != "active" || told != kept {
			t.Errorf("%s: status of %s: %+v; the host serves slot %s, release %s, keeps a record: %v", step, st.Host, st, slot, release, kept)
		}
	}
}

// A rollback killed with SIGKILL at each boundary of its flow, under a
// browser-like load through nginx: no request fails, status tells the
// truth, and the next rollback — taking over the dead one's lock —
// finishes or reverts it from what the host shows, then rolls back itself;
// the host serves the release state.json names, and its history holds
// every switch that happened (the previous release is the one that ran
// before).
func TestHostRollbackCut(t *testing.T) {
	cl := hosttest.Start(t, "web1")
	web1 := cl.Host("web1")
	c := serverProject(t, "myapp", "go")
	o := hostOpts(c, dial(t, cl, "", "web1"), nil)
	greeting := map[string]string{}
	for _, g := range []string{"Hello, one!", "Hello, two!"} {
		setHello(t, c, g)
		deployOK(t, o)
		greeting[readState(t, cl, c, "web1").Current] = g
	}
	l := hosttest.StartLoad(t, web1.Addr, "app.test", "/healthz", 4)
	for _, step := range []string{"rollback-recorded", "rollback-started", "rollback-switched", "rollback-recorded-current"} {
		ok0, failed0 := l.Counts()
		before := readState(t, cl, c, "web1")
		cutChild(t, cl, c, "rollback", step, "", []string{"web1"}, "")
		checkStatusTruth(t, cl, o, step, "web1")
		_, cutTo := served(t, cl, c, "web1")
		var out strings.Builder
		o.Out = &out
		if err := RollbackHosts(context.Background(), o, ""); err != nil {
			t.Fatalf("%s: the next rollback: %v\n%s", step, err, out.String())
		}
		after := readState(t, cl, c, "web1")
		ok1, failed1 := l.Counts()
		t.Logf("TABLE | 1 host | rollback %s | SIGKILL | %d | %d | %s", step, ok1-ok0+failed1-failed0, failed1-failed0, recoveryLines(out.String()))
		if !strings.Contains(out.String(), "outlived its process") {
			t.Errorf("%s: the next rollback should take over the dead rollback's lock:\n%s", step, out.String())
		}
		// Every switch is in the history: the cut rollback's, when it was
		// finished, then the next rollback's.
		want := slices.Clone(before.History)
		if strings.Contains(out.String(), "↻") {
			want = append(want, cutTo)
		}
		want = append(want, after.Current)
		if !slices.Equal(after.History, want) {
			t.Errorf("%s: history %v, want %v:\n%s", step, after.History, want, out.String())
		}
		if _, rel := served(t, cl, c, "web1"); rel != after.Current {
			t.Errorf("%s: nginx serves %s, state.json says %s", step, rel, after.Current)
		}
		if _, body := getSite(t, web1.Addr, "/"); !strings.Contains(body, greeting[after.Current]) {
			t.Errorf("%s: GET / = %q, want the greeting of %s (%q)", step, body, after.Current, greeting[after.Current])
		}
		if left := cl.SSH(t, "web1", "ls -A /var/lib/stackctl/myapp/ /srv/myapp/releases/ | grep -E 'journal|lock|\\.tmp' || true"); left != "" {
			t.Errorf("%s: left behind: %s", step, left)
		}
	}
	l.Check(t, "rollbacks killed at each step")
}
