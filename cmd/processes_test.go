package cmd

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/deploy"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// A name that is not a process or schedule is a usage error (exit 2)
// that lists the known ones, before any host is dialed (the project's
// host does not exist: dialing it would fail another way).
func TestProcessNamesRefused(t *testing.T) {
	t.Parallel()
	c := stack.Default("shop", "flask")
	c.Deploy.Hosts = []string{"no-such-host.invalid"}
	c.Processes = map[string]stack.Process{"worker": {Command: "python -m worker", Count: 1, StopTimeout: "30s"}}
	c.Schedules = []stack.Schedule{{Name: "cleanup", Command: "flask cleanup", On: "hourly", Hosts: "one"}}
	path := filepath.Join(t.TempDir(), stack.FileName)
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"logs", "--process", "mailer"}, `"mailer" is neither the web app nor a process or schedule`},
		{[]string{"logs", "--process", "worker", "--process", "nope"}, "name one of: web, worker, cleanup"},
		{[]string{"run-schedule", "worker"}, `"worker" is not a schedule of`},
		{[]string{"run-schedule", "nope"}, "name one of: cleanup"},
		{[]string{"run-schedule"}, "run-schedule takes one schedule name, 0 were given"},
	} {
		ios, _, out, errOut := ui.Test()
		code := runRoot(t, ios, append(tc.args, "--config", path)...)
		if code != 2 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, %s%s; want exit 2 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
}

// status prints each process copy and schedule of a host.
func TestStatusPrintsProcesses(t *testing.T) {
	t.Parallel()
	ios, _, out, _ := ui.Test()
	last := time.Date(2026, 12, 4, 10, 0, 2, 0, time.UTC)
	printProcesses(ios, deploy.HostStatus{
		Release: "R2",
		Processes: []deploy.ProcessStatus{
			{Process: "worker", Copy: 1, Release: "R2", State: "active"},
			{Process: "worker", Copy: 2, Release: "R1", State: "failed"},
		},
		Schedules: []deploy.ScheduleStatus{
			{Name: "cleanup", Enabled: true, LastRun: last, NextRun: last.Add(time.Hour), Result: "exit-code"},
			{Name: "report", Enabled: false},
			{Name: "tick", Enabled: true},
		},
	})
	got := out.String()
	for _, want := range []string{
		"process  worker-1  active, release R2\n",
		"process  worker-2  failed, release R1 (not the current release)\n",
		"schedule cleanup  last run " + last.Local().Format("Jan 02 15:04:05") + " (exit-code), next " + last.Add(time.Hour).Local().Format("Jan 02 15:04:05") + "\n",
		"schedule report  not on this host\n",
		"schedule tick  never ran\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("status lacks %q:\n%s", want, got)
		}
	}
}
