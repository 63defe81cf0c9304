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
// host keeps one, and hosts on different releases flagged exactly when
// nginx serves two.
func checkStatusTruth(t *testing.T, cl *hosttest.Cluster, o HostsOptions, step string, names ...string) {
	t.Helper()
	sts, err := Status(context.Background(), o)
	if err != nil {
		t.Fatalf("%s: status: %v", step, err)
	}
	servedReleases := map[string]bool{}
	for _, name := range names {
		_, release := served(t, cl, o.Config, name)
		servedReleases[release] = true
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
		mixed := strings.Contains(strings.Join(st.Problems, "; "), "run different releases")
		if mixed != (len(servedReleases) > 1) {
			t.Errorf("%s: status of %s says mixed releases: %v; the hosts serve %v", step, st.Host, mixed, servedReleases)
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
	t.Parallel()
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

// denySSH makes web's sshd refuse (or again accept) new logins of user
// deploy; connections already open stay up, as sshd leaves them.
func denySSH(t *testing.T, cl *hosttest.Cluster, name string, deny bool) {
	t.Helper()
	cmd := "rm -f /etc/ssh/sshd_config.d/stackctl-test-deny.conf"
	if deny {
		cmd = "echo 'DenyUsers deploy' >/etc/ssh/sshd_config.d/stackctl-test-deny.conf"
	}
	cl.SSH(t, name, cmd+" && sshd -t && systemctl reload ssh")
}

// A deploy (and a rollback) whose SSH connection drops at a step boundary
// — its control master killed — under a browser-like load through nginx.
// When the host takes new logins, the command goes on over a new
// connection; when it refuses them (the network stays down), the command
// fails and cannot undo, so the host keeps the record and the lock. Either
// way no request fails, status tells the truth, and the next command
// converges the host and succeeds with no manual step.
func TestHostDeployDrop(t *testing.T) {
	t.Parallel()
	cl := hosttest.Start(t, "web1")
	web1 := cl.Host("web1")
	c := serverProject(t, "myapp", "go")
	o := hostOpts(c, dial(t, cl, "", "web1"), nil)
	deployOK(t, o)
	l := hosttest.StartLoad(t, web1.Addr, "app.test", "/healthz", 4)
	for _, f := range []struct {
		command, step string
		down          bool
	}{
		{"deploy", "started", false}, {"deploy", "switched", false},
		{"deploy", "prepared", true}, {"deploy", "started", true}, {"deploy", "switched", true}, {"deploy", "recorded-current", true},
		{"rollback", "rollback-started", true}, {"rollback", "rollback-switched", true},
	} {
		name := f.step + map[bool]string{false: " (reconnects)", true: " (stays down)"}[f.down]
		ok0, failed0 := l.Counts()
		if f.command == "deploy" {
			setHello(t, c, "Hello, "+f.step+"!")
		}
		var connected func()
		if f.down {
			connected = func() { denySSH(t, cl, "web1", true) }
		}
		out := cutChildHeld(t, cl, c, f.command, f.step, "drop", []string{"deploy@web1"}, "", connected)
		if f.down {
			denySSH(t, cl, "web1", false)
		}
		checkStatusTruth(t, cl, o, name, "web1")
		next := deployOK(t, o)
		ok1, failed1 := l.Counts()
		t.Logf("TABLE | 1 host | %s %s | drop | %d | %d | %s; next deploy: %s", f.command, name, ok1-ok0+failed1-failed0, failed1-failed0, childResult(out), recoveryLines(next))
		if strings.Contains(out, "Control socket connect") {
			t.Errorf("%s: ssh's complaint about the dead master's socket reached the output:\n%s", name, out)
		}
		if f.down && strings.Contains(out, "the old release keeps serving; see 'nginx -t'") {
			t.Errorf("%s: a dropped connection is reported as nginx refusing the switch:\n%s", name, out)
		}
		if f.down && !strings.Contains(childResult(out), "failed") {
			t.Errorf("%s: the %s went on though the host refused new logins:\n%s", name, f.command, out)
		}
		if _, body := getSite(t, web1.Addr, "/"); !strings.Contains(body, helloText[c.Dir()]) {
			t.Errorf("%s: after the next deploy GET / = %q, want %q", name, body, helloText[c.Dir()])
		}
		if _, rel := served(t, cl, c, "web1"); rel != readState(t, cl, c, "web1").Current {
			t.Errorf("%s: nginx serves %s, state.json says otherwise", name, rel)
		}
		if left := cl.SSH(t, "web1", "ls -A /var/lib/stackctl/myapp/ /srv/myapp/releases/ | grep -E 'journal|lock|\\.tmp' || true"); left != "" {
			t.Errorf("%s: left behind: %s", name, left)
		}
	}
	l.Check(t, "deploys whose connection dropped at a step")
}

// Two app hosts behind an lb, a deploy cut while the first host is done
// and the second is not (killed after web1 recorded or switched, or its
// connections dropped after each switch), under a browser-like load
// through the lb: no request fails, status tells the truth of each host,
// and the next deploy puts every host on one release.
func TestHostLBCut(t *testing.T) {
	t.Parallel()
	cl, lb, c, o := lbCluster(t)
	deployOK(t, o)
	l := hosttest.StartLoad(t, lb, "app.test", "/healthz", 4)
	for _, f := range []struct{ step, mode string }{{"recorded", ""}, {"switched", ""}, {"switched", "drop"}} {
		name := f.step + " " + map[string]string{"": "SIGKILL", "drop": "drop"}[f.mode]
		ok0, failed0 := l.Counts()
		v := "v-" + strings.ReplaceAll(name, " ", "-")
		setEcho(t, c, v, "")
		out := cutChild(t, cl, c, "deploy", f.step, f.mode, []string{"web1", "web2"}, "lb1")
		checkStatusTruth(t, cl, o, name, "web1", "web2")
		next := deployOK(t, o)
		ok1, failed1 := l.Counts()
		what := recoveryLines(next)
		if f.mode == "drop" {
			what = childResult(out) + "; next deploy: " + what
		}
		t.Logf("TABLE | web1+web2 behind lb1 | deploy %s | %d | %d | %s", name, ok1-ok0+failed1-failed0, failed1-failed0, what)
		if vs := versions(t, lb, 10); vs["web1"] != v || vs["web2"] != v {
			t.Errorf("%s: after the next deploy the hosts run %v, want %s on both", name, vs, v)
		}
		s1, s2 := readState(t, cl, c, "web1"), readState(t, cl, c, "web2")
		if s1.Current != s2.Current {
			t.Errorf("%s: web1 runs %s, web2 %s", name, s1.Current, s2.Current)
		}
	}
	l.Check(t, "deploys behind an lb cut at a step")
}
