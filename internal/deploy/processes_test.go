package deploy

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/stack"
)

// shopWithWorkers is a Flask app with a worker (two copies), a mailer and
// two schedules, whose commands need systemd's quoting.
func shopWithWorkers() *stack.Config {
	c := stack.Default("shop", "flask")
	c.Processes = map[string]stack.Process{
		"worker": {Command: `python -m worker --queue "jobs" --max 50%`, Count: 2, StopTimeout: "1m"},
		"mailer": {Command: "python -m mailer $MAIL_FROM", Count: 1, StopTimeout: stack.DefaultStopTimeout},
	}
	c.Schedules = []stack.Schedule{
		{Name: "cleanup", Command: "flask --app shop cleanup", On: "hourly", Hosts: "one"},
		{Name: "report", Command: "flask --app shop report > /dev/null", On: "Mon..Fri 04:00", Hosts: "all"},
	}
	return c
}

// The process and schedule units: the release from the instance (a
// process) or the current link (a schedule), the app's user, environment
// files and hardening, stop_timeout, the app's marker; goldens in testdata.
func TestRenderProcessUnitsGolden(t *testing.T) {
	c := shopWithWorkers()
	files, err := processFiles(c, NewHostLayout(c))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f.Path))
		golden(t, filepath.Base(f.Path), f.Data)
		if !strings.Contains(string(f.Data), "\nX-Stackctl-App=shop\n") {
			t.Errorf("%s lacks the app's marker", f.Path)
		}
	}
	want := "shop-mailer-1@.service shop-worker-1@.service shop-worker-2@.service shop-cleanup.service shop-cleanup.timer shop-report.service shop-report.timer"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("files %s\nwant %s", got, want)
	}
	worker := string(files[1].Data)
	for _, w := range []string{"WorkingDirectory=/srv/shop/releases/%i", "TimeoutStopSec=60s", "User=shop", "ProtectSystem=strict",
		`ExecStart=/bin/sh -c "python -m worker --queue \"jobs\" --max 50%%"`, "STACKCTL_PROCESS=worker.1"} {
		if !strings.Contains(worker, w) {
			t.Errorf("the worker's unit lacks %q:\n%s", w, worker)
		}
	}
	if !strings.Contains(string(files[1+1].Data), "STACKCTL_PROCESS=worker.2") {
		t.Errorf("copy 2 does not say so:\n%s", files[2].Data)
	}
}

// Every unit passes systemd-analyze verify (as an instance for a
// process), and the check can fail.
func TestProcessUnitsPassSystemdAnalyzeVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (apt-get install systemd)")
	}
	c := shopWithWorkers()
	files, err := processFiles(c, NewHostLayout(c))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "/srv/shop/releases/r1/.venv/bin/python"), "#!/bin/sh\n", 0o755)
	mustWrite(t, filepath.Join(root, "/bin/sh"), "#!/bin/sh\n", 0o755)
	for _, f := range files {
		mustWrite(t, filepath.Join(root, f.Path), string(f.Data), 0o644)
	}
	for _, u := range []string{"shop-worker-2@r1.service", "shop-mailer-1@r1.service", "shop-cleanup.service", "shop-cleanup.timer", "shop-report.timer"} {
		if out, err := verifyUnitFile(t, sa, root, "/etc/systemd/system/"+u); err != nil || out != "" {
			t.Errorf("systemd-analyze verify %s: %v\n%s", u, err, out)
		}
	}
	mustWrite(t, filepath.Join(root, "/etc/systemd/system/shop-cleanup.timer"), string(files[4].Data)+"OnCalendar=every hour\n", 0o644)
	if out, err := verifyUnitFile(t, sa, root, "/etc/systemd/system/shop-cleanup.timer"); err == nil && out == "" {
		t.Errorf("a broken timer passed systemd-analyze verify")
	}
}

// processesArgs names every copy's template, and the schedules that run
// on "one" host are off on the others.
func TestProcessesArgs(t *testing.T) {
	c := shopWithWorkers()
	l := NewHostLayout(c)
	first := strings.Join(processesArgs(c, l, "R2", true)[4:], " ")
	if want := "/etc/systemd/system shop R2 p:shop-mailer-1@.service p:shop-worker-1@.service p:shop-worker-2@.service t:shop-cleanup.timer t:shop-report.timer"; first != want {
		t.Errorf("first host:\n got %s\nwant %s", first, want)
	}
	other := strings.Join(processesArgs(c, l, "R2", false)[4:], " ")
	if !strings.Contains(other, "o:shop-cleanup.timer t:shop-report.timer") {
		t.Errorf("other host: %s", other)
	}
}

// processStatusScript's output, as a host prints it, read back.
func TestParseProcessStatus(t *testing.T) {
	out := `proc shop-worker-1@R2.service active running
proc shop-worker-2@R2.service failed failed
proc shop-worker-1@R1.service inactive dead
sched shop-cleanup
shop-cleanup UnitFileState=enabled
shop-cleanup LastTriggerUSec=@1733306402
shop-cleanup NextElapseUSecRealtime=@1733310000
shop-cleanup Result=exit-code
shop-cleanup ActiveState=inactive
sched shop-report
shop-report UnitFileState=disabled
shop-report LastTriggerUSec=
shop-report NextElapseUSecRealtime=
shop-report Result=success
shop-report ActiveState=inactive
`
	procs, scheds, err := parseProcessStatus(out, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if len(procs) != 3 || procs[0] != (ProcessStatus{Process: "worker", Copy: 1, Unit: "shop-worker-1@R2.service", Release: "R2", State: "active", Sub: "running"}) || procs[1].Copy != 2 || procs[1].State != "failed" {
		t.Errorf("processes: %+v", procs)
	}
	want := []ScheduleStatus{
		{Name: "cleanup", Enabled: true, LastRun: time.Unix(1733306402, 0).UTC(), NextRun: time.Unix(1733310000, 0).UTC(), Result: "exit-code"},
		{Name: "report"},
	}
	if len(scheds) != 2 || scheds[0] != want[0] || scheds[1] != want[1] {
		t.Errorf("schedules:\n got %+v\nwant %+v", scheds, want)
	}
}
