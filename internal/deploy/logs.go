package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// LogsOptions are the inputs of `stackctl logs`.
type LogsOptions struct {
	HostsOptions
	// Follow keeps printing new lines until ctx ends (journalctl -f).
	Follow bool
	// Lines is journalctl's -n; negative: not given.
	Lines int
	// Since is journalctl's --since; a bare duration ("10m", "2h") means
	// that long ago.
	Since string
	// Colored colors the host prefixes.
	Colored bool
	// Location is the time zone of the timestamps; nil is time.Local.
	Location *time.Location
	// Processes names what to show: "web" (the slots), a process of
	// [processes] or a schedule; none is "web".
	Processes []string
}

// LogLine is one journal entry of an app's unit.
type LogLine struct {
	Host    string
	Time    time.Time
	Unit    string
	Message string
	cursor  string
}

var durationRE = regexp.MustCompile(`^[0-9]+(us|ms|s|sec|m|min|h|d|w)$`)

// journalSince turns a --since value into journalctl's: a bare duration is
// relative to now ("-10m").
func journalSince(s string) string {
	if durationRE.MatchString(s) {
		return "-" + s
	}
	return s
}

// Logs prints the journal of the app's units (both slots) on every host,
// each line led by its host, in time order across hosts. With Follow, it
// then prints new lines as they come until ctx is cancelled (Ctrl-C),
// which is not an error.
func Logs(ctx context.Context, o LogsOptions) error {
	f, err := newReadOnlyFleet(o.HostsOptions)
	if err != nil {
		return err
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	units, err := LogUnits(f.c, f.l, o.Processes)
	if err != nil {
		return err
	}
	base, backlog := journalArgv(units, o)
	mux := ui.NewLogMux(o.Out, o.Colored)
	writers := make([]*ui.PrefixWriter, len(o.Hosts))
	for i, h := range o.Hosts {
		writers[i] = mux.Writer(h.Name())
	}
	lines, err := readBacklog(ctx, o.Hosts, backlog)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	// The backlog of every host, merged by time.
	var all []LogLine
	index := map[string]int{}
	for i, h := range o.Hosts {
		index[h.Name()] = i
		all = append(all, lines[i]...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Time.Before(all[j].Time) })
	for _, l := range all {
		fmt.Fprintln(writers[index[l.Host]], formatLogLine(l, o.Location))
	}
	if !o.Follow {
		return nil
	}
	return followJournals(ctx, o, base, lines, writers)
}

// LogUnits are the units (or unit patterns) whose journal logs shows for
// names ("web", processes, schedules; none: "web"); an unknown name is a
// usage error that lists the known ones.
func LogUnits(c *stack.Config, l HostLayout, names []string) ([]string, error) {
	if len(names) == 0 {
		names = []string{"web"}
	}
	var units []string
	for _, n := range names {
		switch {
		case n == "web":
			for _, s := range Slots {
				units = append(units, l.Instance(s))
			}
		case c.Processes[n].Command != "":
			units = append(units, l.Service+"-"+n+"-*@*.service")
		case scheduleNamed(c, n):
			units = append(units, l.ScheduleService(n))
		default:
			known := append([]string{"web"}, c.ProcessNames()...)
			for _, s := range c.Schedules {
				known = append(known, s.Name)
			}
			return nil, ui.Usagef("name one of: "+strings.Join(known, ", "), "%q is neither the web app nor a process or schedule of %s", n, c.Path)
		}
	}
	return units, nil
}

func scheduleNamed(c *stack.Config, name string) bool {
	for _, s := range c.Schedules {
		if s.Name == name {
			return true
		}
	}
	return false
}

// journalArgv builds the journalctl commands of logs: base reads units as
// JSON; backlog is base with -n and --since.
func journalArgv(units []string, o LogsOptions) (base, backlog []string) {
	base = []string{"journalctl", "--no-pager", "--quiet", "-o", "json"}
	for _, u := range units {
		base = append(base, "-u", u)
	}
	backlog = append([]string(nil), base...)
	if o.Lines >= 0 {
		backlog = append(backlog, "-n", strconv.Itoa(o.Lines))
	} else if o.Follow && o.Since == "" {
		backlog = append(backlog, "-n", "10") // journalctl -f's default
	}
	if o.Since != "" {
		backlog = append(backlog, "--since="+journalSince(o.Since))
	}
	return base, backlog
}

// readBacklog runs backlog on every host at once and parses each output.
func readBacklog(ctx context.Context, hosts []host.Host, backlog []string) ([][]LogLine, error) {
	lines := make([][]LogLine, len(hosts))
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out, errOut bytes.Buffer
			err := h.Run(ctx, host.Cmd{Argv: backlog, Root: true, Stdout: &out, Stderr: &errOut})
			if err != nil {
				errs[i] = fmt.Errorf("%s: journalctl: %w: %s", h.Name(), err, strings.TrimSpace(errOut.String()))
				return
			}
			lines[i] = parseJournal(h.Name(), &out, nil)
		}()
	}
	wg.Wait()
	return lines, errors.Join(errs...)
}

// followJournals prints every host's new lines as they come (journalctl
// -f after the backlog's last cursor) until ctx ends.
func followJournals(ctx context.Context, o LogsOptions, base []string, lines [][]LogLine, writers []*ui.PrefixWriter) error {
	errs := make([]error, len(o.Hosts))
	var wg sync.WaitGroup
	for i, h := range o.Hosts {
		follow := append(append([]string(nil), base...), "-f")
		if n := len(lines[i]); n > 0 && lines[i][n-1].cursor != "" {
			follow = append(follow, "--after-cursor="+lines[i][n-1].cursor)
		} else {
			follow = append(follow, "-n", "0")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pr, pw := io.Pipe()
			parsed := make(chan struct{})
			go func() {
				defer close(parsed)
				parseJournal(h.Name(), pr, func(l LogLine) { fmt.Fprintln(writers[i], formatLogLine(l, o.Location)) })
			}()
			var errOut bytes.Buffer
			err := h.Run(ctx, host.Cmd{Argv: follow, Root: true, Stdout: pw, Stderr: &errOut})
			pw.Close()
			<-parsed
			if err != nil && ctx.Err() == nil {
				errs[i] = fmt.Errorf("%s: journalctl -f: %w: %s", h.Name(), err, strings.TrimSpace(errOut.String()))
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// parseJournal reads journalctl's JSON lines; each entry goes to each
// when it is set, else all are returned.
func parseJournal(name string, r io.Reader, each func(LogLine)) []LogLine {
	var out []LogLine
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var e map[string]json.RawMessage
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		l := LogLine{Host: name, Message: journalField(e["MESSAGE"]), Unit: journalField(e["_SYSTEMD_UNIT"]), cursor: journalField(e["__CURSOR"])}
		if u := journalField(e["UNIT"]); u != "" {
			l.Unit = u // systemd's own lines about the unit
		}
		if us, err := strconv.ParseInt(journalField(e["__REALTIME_TIMESTAMP"]), 10, 64); err == nil {
			l.Time = time.UnixMicro(us)
		}
		if each != nil {
			each(l)
			continue
		}
		out = append(out, l)
	}
	io.Copy(io.Discard, r)
	return out
}

// journalField reads a journal JSON field: a string, or an array of bytes
// for a value that is not UTF-8.
func journalField(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var b []byte
	var nums []int
	if json.Unmarshal(raw, &nums) == nil {
		for _, n := range nums {
			b = append(b, byte(n))
		}
		return string(b) // formatLogLine shows its bytes that are not UTF-8
	}
	return ""
}

// formatLogLine writes an entry as one line of text: what the app logged
// reaches the terminal with its control characters made visible
// (ui.Visible), so an escape sequence in a log cannot drive the terminal.
func formatLogLine(l LogLine, loc *time.Location) string {
	unit := strings.TrimSuffix(l.Unit, ".service")
	return fmt.Sprintf("%s %s: %s", l.Time.In(loc).Format("Jan 02 15:04:05"), ui.Visible(unit), ui.Visible(strings.TrimRight(l.Message, "\n")))
}
