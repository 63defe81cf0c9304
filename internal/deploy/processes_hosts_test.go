package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/hosttest"
	"github.com/stackctl/stackctl/internal/stack"
)

// job is one row of the jobs app's queue (testdata/jobs).
type job struct {
	ID        int    `json:"id"`
	State     string `json:"state"`
	TimesDone int    `json:"times_done"`
	DoneBy    string `json:"done_by"`
}

// siteRequest sends method path to the host's nginx as app.test and
// returns the body; a status other than 200 fails the test.
func siteRequest(t *testing.T, method, addr, path string) []byte {
	t.Helper()
	return vhostRequest(t, method, addr, "app.test", path, nil)
}

// vhostRequest sends method path (with form values) to the host's nginx
// as the site vhost and returns the body; a status other than 200 fails
// the test.
func vhostRequest(t *testing.T, method, addr, vhost, path string, form url.Values) []byte {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(form.Encode()))
	req.Host = vhost
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, addr, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s%s: %s %.300s", method, addr, path, resp.Status, body)
	}
	return body
}

func jobsOf(t *testing.T, addr string) []job {
	t.Helper()
	var jobs []job
	if err := json.Unmarshal(siteRequest(t, "GET", addr, "/jobs"), &jobs); err != nil {
		t.Fatal(err)
	}
	return jobs
}

// waitJobs waits (at most d) until every job on the host is done.
func waitJobs(t *testing.T, addr string, d time.Duration) []job {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		jobs := jobsOf(t, addr)
		left := 0
		for _, j := range jobs {
			if j.State != "done" {
				left++
			}
		}
		if left == 0 {
			return jobs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d jobs not done after %s: %+v", addr, left, len(jobs), d, jobs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// feedJobs enqueues a job a second on each host until the function it
// returns is called (at most 2 minutes).
func feedJobs(t *testing.T, addrs []string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for _, addr := range addrs {
				req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/enqueue?n=1", nil)
				req.Host = "app.test"
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// ticks reads the schedule's runs on a host: "host version start|end unixtime" lines.
func ticks(t *testing.T, cl *hosttest.Cluster, name string) []string {
	t.Helper()
	out := cl.SSH(t, name, "cat /var/lib/jobs/instance/ticks 2>/dev/null || true")
	return strings.Fields(strings.ReplaceAll(out, "\n", " | "))
}

// tickRuns parses the ticks file into runs: version, start and end.
type tickRun struct {
	version    string
	start, end float64
}

func tickRuns(t *testing.T, cl *hosttest.Cluster, name string) []tickRun {
	t.Helper()
	out := cl.SSH(t, name, "cat /var/lib/jobs/instance/ticks 2>/dev/null || true")
	var runs []tickRun
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 {
			continue
		}
		at, _ := strconv.ParseFloat(f[3], 64)
		switch f[2] {
		case "start":
			runs = append(runs, tickRun{version: f[1], start: at})
		case "end":
			if len(runs) == 0 || runs[len(runs)-1].end != 0 {
				t.Fatalf("%s: a run ended that had not started, or two ran at once:\n%s", name, out)
			}
			runs[len(runs)-1].end = at
		}
	}
	return runs
}

// waitTick waits (at most d) for a finished run of version that started
// after since, on the host.
func waitTick(t *testing.T, cl *hosttest.Cluster, name, version string, since time.Time, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, r := range tickRuns(t, cl, name) {
			if r.version == version && r.start > float64(since.UnixNano())/1e9 && r.end != 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no run of the %s schedule's code started after %s within %s:\n%v", name, version, since.Format(time.RFC3339), d, tickRuns(t, cl, name))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// setJobsVersion makes the jobs app's code say version, committed.
func setJobsVersion(t *testing.T, dir, version string) {
	t.Helper()
	p := filepath.Join(dir, "jobs", "__init__.py")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte(`VERSION = "`))
	j := bytes.IndexByte(data[i+len(`VERSION = "`):], '"')
	data = append(append(append([]byte{}, data[:i]...), []byte(`VERSION = "`+version)...), data[i+len(`VERSION = "`)+j:]...)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "commit", "-q", "-am", version)
}

// A Flask app with a worker and a schedule, on two hosts behind an lb.
// Workers take jobs from a queue in the app's SQLite database (its data
// folder): a redeploy while jobs flow loses none and does none twice, the
// old workers finish the job in hand after SIGTERM, the new release's
// workers take the jobs after. The schedule runs on the first host only,
// never two runs at once though each outlasts its period, and after a
// rollback it runs the rolled-back code. status, logs --process and
// run-schedule show and drive them; processes and schedules taken out of
// stack.toml are stopped and their units removed.
func TestWorkersAndSchedulesBehindLB(t *testing.T) {
	t.Parallel()
	dir := gitProject(t, "jobs")
	c := stack.Default("jobs", "flask")
	c.App.WSGI = "jobs:create_app()"
	c.App.Health = "/"
	c.App.Data = []string{"instance"}
	c.Proxy.ServerNames = []string{"app.test"}
	c.Proxy.Static = nil
	c.Processes = map[string]stack.Process{"worker": {Command: "python worker.py", Count: 2, StopTimeout: "20s"}}
	c.Schedules = []stack.Schedule{{Name: "tick", Command: "python tick.py", On: "*:*:0/2", Hosts: "one"}}
	save := func() {
		t.Helper()
		if err := c.Save(filepath.Join(dir, stack.FileName)); err != nil {
			t.Fatal(err)
		}
		var err error
		if c, err = stack.Load(filepath.Join(dir, stack.FileName)); err != nil {
			t.Fatal(err)
		}
	}
	save()
	cl := hosttest.Start(t, "web1", "web2", "lb1")
	hs := dial(t, cl, "", "web1", "web2", "lb1")
	o := hostOpts(c, hs[:2], nil)
	o.LB = hs[2]
	t.Cleanup(func() {
		if t.Failed() {
			for _, h := range []string{"web1", "web2"} {
				out, _ := cl.TrySSH(h, "systemctl list-units --all --no-pager 'jobs*'; journalctl --no-pager -n 60 -u 'jobs-*'")
				t.Logf("%s:\n%s", h, out)
			}
		}
	})
	web1, web2 := cl.Host("web1").Addr, cl.Host("web2").Addr

	out := deployOK(t, o)
	if !strings.Contains(out, "started tick.timer worker-1 worker-2 on release ") || !strings.Contains(out, "tick.timer") {
		t.Errorf("the deploy does not say it started the worker and the schedule:\n%s", out)
	}
	list, err := Status(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	r1 := list[0].Release
	for i, st := range list[:2] {
		if !st.Healthy || len(st.Processes) != 2 || st.Processes[0].Release != r1 || st.Processes[1].State != "active" {
			t.Errorf("status of %s: %+v", st.Host, st)
		}
		if len(st.Schedules) != 1 || st.Schedules[0].Enabled != (i == 0) {
			t.Errorf("status of %s: schedules %+v, want tick enabled on web1 only", st.Host, st.Schedules)
		}
	}

	// A redeploy while jobs flow: a backlog of 12 on each host, and a job a
	// second more, as fast as its two workers do them, so the queue never
	// empties and each worker has a job in hand at any time.
	for _, addr := range []string{web1, web2} {
		siteRequest(t, "POST", addr, "/enqueue?n=12")
	}
	setJobsVersion(t, dir, "v2")
	deployStart := time.Now()
	feed := feedJobs(t, []string{web1, web2})
	deployOK(t, o)
	feed()
	for _, addr := range []string{web1, web2} {
		siteRequest(t, "POST", addr, "/enqueue?n=4")
	}
	for _, h := range []struct{ name, addr string }{{"web1", web1}, {"web2", web2}} {
		jobs := waitJobs(t, h.addr, 90*time.Second)
		byVersion := map[string]int{}
		for _, j := range jobs {
			if j.TimesDone != 1 {
				t.Errorf("%s: job %d was done %d times (by %s)", h.name, j.ID, j.TimesDone, j.DoneBy)
			}
			byVersion[strings.Split(j.DoneBy, "/")[0]]++
		}
		if byVersion["v1"] == 0 || byVersion["v2"] < 4 {
			t.Errorf("%s: %d jobs, done by release: %v; want some by v1 and the last 4 at least by v2", h.name, len(jobs), byVersion)
		}
		// Every old worker got SIGTERM, finished the job it had in hand,
		// and stopped.
		logs := cl.SSH(t, h.name, "for u in $(systemctl list-units --all --plain --no-legend --full 'jobs-worker-*@"+r1+".service' | awk '{print $1}') "+
			"$(journalctl --no-pager -o cat --field=_SYSTEMD_UNIT | grep '@"+r1+".service' | grep jobs-worker | sort -u); do echo \"== $u\"; journalctl --no-pager -o cat -u \"$u\"; done")
		finished := 0
		for _, part := range strings.Split(logs, "== ")[1:] {
			unit, text, _ := strings.Cut(part, "\n")
			term := strings.Index(text, "SIGTERM: finishing")
			if term < 0 || !strings.Contains(text[term:], "stopped") {
				t.Errorf("%s: %s did not stop on SIGTERM as asked:\n%s", h.name, unit, text)
				continue
			}
			before := text[:term]
			if i := strings.LastIndex(before, " taken"); i >= 0 && strings.LastIndex(before, " done") < i {
				// A job was in hand at SIGTERM: it must be done after.
				id := before[strings.LastIndex(before[:i], "job ")+4 : i]
				if !strings.Contains(text[term:], "job "+id+" done") {
					t.Errorf("%s: %s dropped job %s on SIGTERM:\n%s", h.name, unit, id, text)
				}
				finished++
			}
		}
		if finished == 0 {
			t.Errorf("%s: no old worker had a job in hand at SIGTERM (the test wants one):\n%s", h.name, logs)
		}
	}
	t.Logf("redeploy with jobs in flight: %.1fs", time.Since(deployStart).Seconds())

	// The schedule: web1 only, runs never overlap (each takes 3 s, its
	// period is 2 s), and the new code runs after the deploy.
	waitTick(t, cl, "web1", "v2", deployStart, 30*time.Second)
	runs := tickRuns(t, cl, "web1")
	for i := 1; i < len(runs); i++ {
		if runs[i].start < runs[i-1].end {
			t.Errorf("run %d started at %.3f before run %d ended at %.3f", i, runs[i].start, i-1, runs[i-1].end)
		}
	}
	if len(ticks(t, cl, "web2")) != 0 {
		t.Errorf("the schedule ran on web2 too: %v", ticks(t, cl, "web2"))
	}

	// Rollback: the old release's workers run, the schedule runs its code.
	var buf bytes.Buffer
	o.Out = &buf
	if err := RollbackHosts(context.Background(), o, ""); err != nil {
		t.Fatalf("rollback: %v\n%s", err, buf.String())
	}
	rolledBack := time.Now()
	list, err = Status(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range list[:2] {
		if st.Release != r1 || !st.Healthy || len(st.Processes) != 2 || st.Processes[0].Release != r1 || st.Processes[1].Release != r1 {
			t.Errorf("after the rollback, status of %s: %+v", st.Host, st)
		}
	}
	waitTick(t, cl, "web1", "v1", rolledBack, 30*time.Second)
	siteRequest(t, "POST", web2, "/enqueue?n=1")
	if jobs := waitJobs(t, web2, 30*time.Second); !strings.HasPrefix(jobs[len(jobs)-1].DoneBy, "v1/"+r1) {
		t.Errorf("after the rollback a job was done by %s, want release %s's workers", jobs[len(jobs)-1].DoneBy, r1)
	}

	// run-schedule runs it now, on web1; logs --process shows the workers.
	buf.Reset()
	if err := RunSchedule(context.Background(), o, "tick"); err != nil || !strings.Contains(buf.String(), "  tick v1\n") || strings.Contains(buf.String(), "web2") {
		t.Errorf("run-schedule: %v\n%s", err, buf.String())
	}
	buf.Reset()
	if err := Logs(context.Background(), LogsOptions{HostsOptions: o, Lines: 200, Processes: []string{"worker"}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "jobs-worker-1@") || !strings.Contains(buf.String(), " done") || strings.Contains(buf.String(), "jobs@a") {
		t.Errorf("logs --process worker:\n%s", buf.String())
	}

	// New secrets reach the workers too (each restarts, after its job).
	buf.Reset()
	if err := ChangeSecrets(context.Background(), o, SecretsChange{Set: map[string]string{"QUEUE_TOKEN": "s3cret-42"}}); err != nil {
		t.Fatalf("env set: %v\n%s", err, buf.String())
	}
	for _, h := range []string{"web1", "web2"} {
		env := cl.SSH(t, h, "for u in jobs-worker-1@"+r1+".service jobs-worker-2@"+r1+".service; do tr '\\0' '\\n' </proc/$(systemctl show -p MainPID --value $u)/environ | grep QUEUE_TOKEN; done")
		if strings.Count(env, "QUEUE_TOKEN=s3cret-42") != 2 {
			t.Errorf("%s: the workers do not have the new secret: %q\n%s", h, env, buf.String())
		}
	}

	// A release refused by its health check never starts its processes.
	workerReleases := func(name string) string {
		return cl.SSH(t, name, "journalctl --no-pager -o cat -u 'jobs-worker-*' | grep -o 'Started jobs-worker-[0-9]*@[^ ]*' | sed 's/.*@//' | sort -u")
	}
	before := workerReleases("web1") + workerReleases("web2")
	setJobsVersion(t, dir, "v3")
	c.App.Health = "/nope"
	save()
	o.Config = c
	buf.Reset()
	refused := o
	refused.HealthTimeout = 8 * time.Second
	if err := DeployHosts(context.Background(), refused); err == nil {
		t.Fatalf("a release answering 404 to its health check was deployed:\n%s", buf.String())
	}
	if after := workerReleases("web1") + workerReleases("web2"); after != before {
		t.Errorf("the refused release started workers: before\n%s\nafter\n%s", before, after)
	}
	c.App.Health = "/"
	save()
	o.Config = c

	// A deploy killed right after web1's switch, before its workers moved:
	// the next deploy finishes the cut one (its workers start) and goes on.
	cutChild(t, cl, c, "deploy", "switched", "", []string{"web1", "web2"}, "lb1")
	next := deployOK(t, o)
	if !strings.Contains(next, "was cut off after nginx switched to it: finished it") || strings.Count(next, "started worker-1 worker-2 on release") < 3 {
		t.Errorf("the next deploy did not finish the cut one and start its workers:\n%s", next)
	}
	list, err = Status(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range list[:2] {
		if !st.Healthy || len(st.Processes) != 2 || st.Processes[0].Release != st.Release || st.Processes[1].Release != st.Release {
			t.Errorf("after the cut and the next deploy, status of %s: %+v", st.Host, st)
		}
	}

	// Out of stack.toml: the worker and the schedule stop and their units go.
	c.Processes, c.Schedules = nil, nil
	save()
	o.Config = c
	deployOK(t, o)
	for _, h := range []string{"web1", "web2"} {
		left := cl.SSH(t, h, "systemctl list-units --all --plain --no-legend 'jobs-*' | awk '{print $1}'; ls /etc/systemd/system | grep '^jobs-' || true; ls /etc/systemd/system/*.wants | grep '^jobs-' || true")
		if strings.TrimSpace(left) != "" {
			t.Errorf("%s: units of removed processes or schedules are left:\n%s", h, left)
		}
	}
}
