package deploy

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// Processes and schedules on servers (DEPLOY.md "Processes and
// schedules"). Each copy of a process is an instance of a template unit of
// its own, <service>-<process>-<copy>@.service, whose instance is the
// release it runs: a deploy starts <service>-worker-1@<new>.service after
// the switch, then stops <service>-worker-1@<old>.service, so workers never
// pause and the old ones finish the job in hand. A schedule is a timer and
// a oneshot service running in the current release. Every such file names
// the app (X-Stackctl-App=), so a deploy knows which files are its own
// when a process or schedule leaves stack.toml.

//go:embed process.service.tmpl
var processUnitTemplate string

//go:embed schedule.service.tmpl
var scheduleUnitTemplate string

var (
	processUnitTmpl  = withHardening(template.New("process").Parse(processUnitTemplate))
	scheduleUnitTmpl = withHardening(template.New("schedule").Parse(scheduleUnitTemplate))
)

// appMarker is the line that makes a unit file the app's own.
func appMarker(service string) string { return "X-Stackctl-App=" + service }

// ProcessTemplate is the template unit of copy n of process name
// ("myapp-worker-1@.service").
func (l HostLayout) ProcessTemplate(name string, n int) string {
	return l.Service + "-" + name + "-" + strconv.Itoa(n) + "@.service"
}

// ScheduleTimer is the timer of schedule name ("myapp-cleanup.timer").
func (l HostLayout) ScheduleTimer(name string) string { return l.Service + "-" + name + ".timer" }

// ScheduleService is the service the timer of schedule name starts.
func (l HostLayout) ScheduleService(name string) string { return l.Service + "-" + name + ".service" }

// unitData is what the process and schedule templates are rendered from.
type unitData struct {
	Name, Service, AppDir, File, ReadsWhat string
	Process                                string
	Copy                                   int
	Schedule, Timer, On, Hosts             string
	Command, StopTimeout                   string
	Settings, Hardening                    []unitSetting
}

func newUnitData(c *stack.Config, l HostLayout, dir, command string) unitData {
	all := appSettings(c, l, dir, false)
	hardening := hardeningSettings(l.Service)
	return unitData{
		Name: c.Name, Service: l.Service, AppDir: l.AppDir, ReadsWhat: "release",
		Command: systemdArg(command), Settings: all[:len(all)-len(hardening)], Hardening: hardening,
	}
}

// RenderProcessUnit is the template unit of copy n of process name.
func RenderProcessUnit(c *stack.Config, name string, n int) ([]byte, error) {
	l := NewHostLayout(c)
	p := c.Processes[name]
	d := newUnitData(c, l, l.Release("%i"), p.Command)
	d.File, d.Process, d.Copy = l.ProcessTemplate(name, n), name, n
	stop, err := stack.ParseDuration(string(p.StopTimeout))
	if err != nil {
		return nil, fmt.Errorf("processes.%s.stop_timeout: %w", name, err)
	}
	d.StopTimeout = strconv.FormatFloat(stop.Seconds(), 'f', -1, 64) + "s"
	var b bytes.Buffer
	err = processUnitTmpl.Execute(&b, d)
	return b.Bytes(), err
}

// RenderSchedule is the service and the timer of schedule s.
func RenderSchedule(c *stack.Config, s stack.Schedule) (service, timer []byte, err error) {
	l := NewHostLayout(c)
	d := newUnitData(c, l, l.Current(), s.Command)
	d.File, d.Timer, d.Schedule, d.On, d.Hosts = l.ScheduleService(s.Name), l.ScheduleTimer(s.Name), s.Name, s.On, s.Hosts
	var sb, tb bytes.Buffer
	if err := scheduleUnitTmpl.ExecuteTemplate(&sb, "schedule.service", d); err != nil {
		return nil, nil, err
	}
	if err := scheduleUnitTmpl.ExecuteTemplate(&tb, "schedule.timer", d); err != nil {
		return nil, nil, err
	}
	return append(sb.Bytes(), '\n'), append(tb.Bytes(), '\n'), nil
}

// processFiles are the unit files of the processes and schedules of c.
func processFiles(c *stack.Config, l HostLayout) ([]HostFile, error) {
	var out []HostFile
	for _, name := range c.ProcessNames() {
		for n := 1; n <= c.Processes[name].Count; n++ {
			data, err := RenderProcessUnit(c, name, n)
			if err != nil {
				return nil, err
			}
			out = append(out, HostFile{Path: path.Join(unitDir, l.ProcessTemplate(name, n)), Exists: true, Data: data, Mode: 0o644})
		}
	}
	for _, s := range c.Schedules {
		service, timer, err := RenderSchedule(c, s)
		if err != nil {
			return nil, err
		}
		out = append(out,
			HostFile{Path: path.Join(unitDir, l.ScheduleService(s.Name)), Exists: true, Data: service, Mode: 0o644},
			HostFile{Path: path.Join(unitDir, l.ScheduleTimer(s.Name)), Exists: true, Data: timer, Mode: 0o644})
	}
	return out, nil
}

// processesArgs are processesScript's arguments for a host running
// release id: first is true on the first app host (it runs the schedules
// whose hosts is "one").
func processesArgs(c *stack.Config, l HostLayout, id string, first bool) []string {
	args := []string{"sh", "-c", processesScript, "stackctl", unitDir, l.Service, id}
	for _, name := range c.ProcessNames() {
		for n := 1; n <= c.Processes[name].Count; n++ {
			args = append(args, "p:"+l.ProcessTemplate(name, n))
		}
	}
	for _, s := range c.Schedules {
		kind := "t:"
		if s.Hosts == "one" && !first {
			kind = "o:" // kept, but off on this host
		}
		args = append(args, kind+l.ScheduleTimer(s.Name))
	}
	return args
}

// processesScript makes the host run the processes and schedules of
// release $3 and nothing else of the app's ($2) — idempotent, so a command
// cut off in the middle is finished by the next one. The unit files in $1
// that hold the app's marker are its own; the arguments after $3 name the
// wanted ones: "p:T" a process template (its instance for $3 is started
// and enabled, its other instances are stopped and disabled once every
// new one runs), "t:T" a timer to enable, "o:T" a timer kept but disabled
// here. An own file named by no argument is a process or schedule gone
// from stack.toml: its units are stopped, then the file is removed.
// Stopping waits for each unit's TimeoutStopSec (stop_timeout). It prints
// started=UNIT, stopped=UNIT and removed=FILE lines.
const processesScript = `set -eu
dir=$1; svc=$2; id=$3; shift 3
wanted=" $* "
start=""; stop=""; enable=""; disable=""; gone=""
instances() {
	{
		systemctl list-units --all --plain --no-legend --full "$1@*.service" 2>/dev/null || true
		ls "$dir/multi-user.target.wants" 2>/dev/null || true
	} | awk -v p="$1@" 'index($1, p) == 1 {print $1}' | sort -u
}
for f in $(grep -l -x -F "X-Stackctl-App=$svc" "$dir/$svc"-* 2>/dev/null || true); do
	b=${f##*/}
	case $b in
	*@.service)
		prefix=${b%@.service}
		if [ "${wanted#* p:$b }" != "$wanted" ]; then
			systemctl is-active --quiet "$prefix@$id.service" || start="$start $prefix@$id.service"
			enable="$enable $prefix@$id.service"
			for u in $(instances "$prefix"); do [ "$u" = "$prefix@$id.service" ] || stop="$stop $u"; done
		else
			for u in $(instances "$prefix"); do stop="$stop $u"; done
			gone="$gone $f"
		fi ;;
	*.timer)
		if [ "${wanted#* t:$b }" != "$wanted" ]; then
			systemctl is-active --quiet "$b" || start="$start $b"
			enable="$enable $b"
		elif [ "${wanted#* o:$b }" != "$wanted" ]; then
			disable="$disable $b"
		else
			disable="$disable $b"
			gone="$gone $f ${f%.timer}.service"
		fi ;;
	esac
done
[ -z "$enable" ] || systemctl enable --quiet $enable
[ -z "$start" ] || systemctl start $start
for u in $start; do echo "started=$u"; done
if [ -n "$disable" ]; then
	for u in $disable; do systemctl is-active --quiet "$u" && echo "stopped=$u"; done
	systemctl disable --now --quiet $disable
fi
if [ -n "$stop" ]; then
	for u in $stop; do systemctl is-active --quiet "$u" && echo "stopped=$u"; done
	systemctl disable --now --quiet $stop 2>/dev/null || systemctl stop $stop
	for u in $stop; do rm -f "$dir/multi-user.target.wants/$u"; done
fi
if [ -n "$gone" ]; then
	for f in $gone; do [ -e "$f" ] && echo "removed=${f##*/}"; rm -f "$f"; done
	systemctl daemon-reload
fi
exit 0
`

// firstHost reports whether r is the fleet's first app host: it runs the
// schedules whose hosts is "one".
func (r *hostRun) firstHost() bool {
	return len(r.fleet.Hosts) == 0 || r.fleet.Hosts[0] == r.h
}

// syncProcesses makes the host run the processes and schedules of release
// id and no others of the app's (processesScript), and says what changed.
func (r *hostRun) syncProcesses(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	start := time.Now()
	out, err := host.Output(ctx, r.h, true, processesArgs(r.c, r.l, id, r.firstHost())...)
	if err != nil {
		return ui.WithFix(fmt.Errorf("%s: the processes of release %s: %s: %w", r.h.Name(), id, strings.TrimSpace(out), err),
			"see 'stackctl status' and 'stackctl logs --process NAME'; the next deploy or rollback starts them again")
	}
	var started, stopped, removed []string
	for _, line := range strings.Split(out, "\n") {
		k, file, _ := strings.Cut(line, "=")
		file = strings.TrimPrefix(file, r.l.Service+"-")
		v := strings.TrimSuffix(file, ".service")
		switch k {
		case "started":
			started = append(started, strings.TrimSuffix(v, "@"+id))
		case "stopped":
			stopped = append(stopped, v)
		case "removed":
			removed = append(removed, file)
		}
	}
	var parts []string
	if len(started) > 0 {
		parts = append(parts, "started "+strings.Join(started, " ")+" on release "+id)
	}
	if len(stopped) > 0 {
		parts = append(parts, "stopped "+strings.Join(stopped, " "))
	}
	if len(removed) > 0 {
		parts = append(parts, "removed "+strings.Join(removed, " "))
	}
	if len(parts) > 0 {
		r.say(r.h, "%s %s %s", r.p.Cyan("⚙"), strings.Join(parts, "; "), since(start))
	}
	return nil
}

// restartProcesses restarts the running copies of release id's processes
// (systemctl try-restart: SIGTERM, stop_timeout, start), so they read the
// environment files again.
func (r *hostRun) restartProcesses(ctx context.Context, id string) error {
	var units []string
	for _, name := range r.c.ProcessNames() {
		for n := 1; n <= r.c.Processes[name].Count; n++ {
			units = append(units, strings.TrimSuffix(r.l.ProcessTemplate(name, n), "@.service")+"@"+id+".service")
		}
	}
	if len(units) == 0 {
		return nil
	}
	start := time.Now()
	if out, err := host.Output(ctx, r.h, true, append([]string{"systemctl", "try-restart"}, units...)...); err != nil {
		return fmt.Errorf("%s: restart the processes: %s: %w", r.h.Name(), strings.TrimSpace(out), err)
	}
	r.say(r.h, "%s restarted %s %s", r.p.Cyan("⚙"), strings.Join(r.c.ProcessNames(), " "), since(start))
	return nil
}

// ProcessStatus is one running (or stopped) copy of a process on a host.
type ProcessStatus struct {
	// Process and Copy name it ("worker", 1); Unit is its systemd unit.
	Process string `json:"process"`
	Copy    int    `json:"copy"`
	Unit    string `json:"unit"`
	// Release is the release it runs.
	Release string `json:"release"`
	// State is systemd's ("active", "failed", "activating"), Sub its detail.
	State string `json:"state"`
	Sub   string `json:"sub"`
}

// ScheduleStatus is one schedule's timer and last run on a host.
type ScheduleStatus struct {
	Name string `json:"name"`
	// Enabled is true on the hosts that run it.
	Enabled bool `json:"enabled"`
	// LastRun is when the timer last started it (zero: never), NextRun
	// when it will (zero: not on this host).
	LastRun time.Time `json:"last_run,omitzero"`
	NextRun time.Time `json:"next_run,omitzero"`
	// Result is the last run's ("success", "exit-code", …; "" before any),
	// Running is true while a run goes on.
	Result  string `json:"result,omitempty"`
	Running bool   `json:"running"`
}

// processStatusScript prints the app's ($1) processes and schedules,
// from its own unit files in $2: "proc UNIT ACTIVE SUB" for every loaded
// instance of a process template, and for each timer "sched NAME" and
// systemctl show's lines of the timer and its service prefixed NAME.
const processStatusScript = `set -u
svc=$1; dir=$2
for f in $(grep -l -x -F "X-Stackctl-App=$svc" "$dir/$svc"-* 2>/dev/null || true); do
	b=${f##*/}
	case $b in
	*@.service)
		p=${b%@.service}
		systemctl list-units --all --plain --no-legend --full "$p@*.service" 2>/dev/null | awk -v p="$p@" 'index($1, p) == 1 {print "proc " $1 " " $3 " " $4}' ;;
	*.timer)
		s=${b%.timer}
		echo "sched $s"
		systemctl show --timestamp=unix -p UnitFileState -p LastTriggerUSec -p NextElapseUSecRealtime "$b" | sed "s|^|$s |"
		systemctl show -p Result -p ActiveState "$s.service" | sed "s|^|$s |" ;;
	esac
done
exit 0
`

// processStatus reads the processes and schedules of r's host.
func (r *hostRun) processStatus(ctx context.Context) ([]ProcessStatus, []ScheduleStatus, error) {
	out, err := host.Output(ctx, r.h, true, "sh", "-c", processStatusScript, "stackctl", r.l.Service, unitDir)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: read the processes: %w", r.h.Name(), err)
	}
	return parseProcessStatus(out, r.l.Service)
}

// parseProcessStatus reads processStatusScript's output.
func parseProcessStatus(out, service string) ([]ProcessStatus, []ScheduleStatus, error) {
	var procs []ProcessStatus
	var scheds []ScheduleStatus
	byUnit := map[string]int{} // timer's prefix → index in scheds
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "proc":
			prefix, release, _ := strings.Cut(strings.TrimSuffix(f[1], ".service"), "@")
			name := strings.TrimPrefix(prefix, service+"-")
			i := strings.LastIndexByte(name, '-')
			if i < 0 {
				continue
			}
			n, _ := strconv.Atoi(name[i+1:])
			ps := ProcessStatus{Process: name[:i], Copy: n, Unit: f[1], Release: release, State: f[2]}
			if len(f) > 3 {
				ps.Sub = f[3]
			}
			procs = append(procs, ps)
		case len(f) == 2 && f[0] == "sched":
			scheds = append(scheds, ScheduleStatus{Name: strings.TrimPrefix(f[1], service+"-")})
			byUnit[f[1]] = len(scheds) - 1
		case len(f) == 2 && strings.Contains(f[1], "="):
			i, ok := byUnit[f[0]]
			if !ok {
				continue
			}
			s := &scheds[i]
			k, v, _ := strings.Cut(f[1], "=")
			switch k {
			case "UnitFileState":
				s.Enabled = v == "enabled"
			case "LastTriggerUSec":
				s.LastRun = unixStamp(v)
			case "NextElapseUSecRealtime":
				s.NextRun = unixStamp(v)
			case "Result":
				s.Result = v
			case "ActiveState":
				s.Running = v == "activating" || v == "active"
			}
		}
	}
	for i := range scheds {
		if scheds[i].LastRun.IsZero() && !scheds[i].Running {
			scheds[i].Result = "" // systemd says "success" before any run
		}
	}
	return procs, scheds, nil
}

// unixStamp reads systemctl's --timestamp=unix value ("@1733328000").
func unixStamp(v string) time.Time {
	n, err := strconv.ParseInt(strings.TrimPrefix(v, "@"), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// processProblems says what is wrong with a host's processes: a copy of
// [processes] that does not run the current release, or one not active.
func processProblems(c *stack.Config, st HostStatus) []string {
	var out []string
	if st.Release == "" {
		return nil
	}
	running := map[string]bool{}
	for _, p := range st.Processes {
		if p.Release == st.Release && p.State == "active" {
			running[p.Process+"-"+strconv.Itoa(p.Copy)] = true
		}
	}
	for _, name := range c.ProcessNames() {
		for n := 1; n <= c.Processes[name].Count; n++ {
			if !running[name+"-"+strconv.Itoa(n)] {
				out = append(out, fmt.Sprintf("process %s (copy %d) does not run release %s: see 'stackctl logs --process %s'", name, n, st.Release, name))
			}
		}
	}
	return out
}

// RunSchedule runs schedule name now, once, on the hosts that run it (the
// first host for hosts = "one", every host for "all"), through its own
// unit: when a run is already going, it waits for that one instead of
// starting a second. It prints each run's output and fails when a run
// failed.
func RunSchedule(ctx context.Context, o HostsOptions, name string) error {
	f, err := newReadOnlyFleet(o)
	if err != nil {
		return err
	}
	if !scheduleNamed(f.c, name) {
		return ui.Usagef("name one of the schedules of "+f.c.Path, "%q is not a schedule", name)
	}
	hosts := o.Hosts
	for _, s := range f.c.Schedules {
		if s.Name == name && s.Hosts == "one" && len(hosts) > 1 {
			hosts = hosts[:1]
		}
	}
	unit := f.l.ScheduleService(name)
	var errs []error
	for _, h := range hosts {
		start := time.Now()
		fmt.Fprintf(o.Out, "%s running %s…\n", f.p.Bold(h.Name()), unit)
		// The journal from this moment: a run already going when asked is
		// the one waited for, and its output is what is shown.
		from, _ := host.Output(ctx, h, true, "date", "+@%s")
		_, runErr := host.Output(ctx, h, true, "systemctl", "start", unit)
		host.Output(ctx, h, true, "journalctl", "--sync") // the run's last lines, written
		argv := []string{"journalctl", "--no-pager", "--quiet", "-o", "cat", "-u", unit, "--since", strings.TrimSpace(from)}
		logs, _ := host.Output(ctx, h, true, argv...)
		for _, line := range strings.Split(strings.TrimRight(logs, "\n"), "\n") {
			if line != "" {
				fmt.Fprintf(o.Out, "  %s\n", ui.Visible(line))
			}
		}
		if runErr != nil {
			errs = append(errs, ui.WithFix(fmt.Errorf("%s: schedule %s failed: %w", h.Name(), name, runErr), "see 'stackctl logs --process "+name+"'"))
			continue
		}
		fmt.Fprintf(o.Out, "%s %s ran %s in %s\n", f.p.Green("✓"), name, h.Name(), since(start))
	}
	return errors.Join(errs...)
}
