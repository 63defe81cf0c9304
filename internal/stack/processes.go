package stack

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Process is one process type besides the web app: a worker, a mail
// sender (a Procfile line other than web: and release:). In stack.toml it
// is a command, or a table with command, count and stop_timeout:
//
//	[processes]
//	worker = "celery -A proj worker -l info"
//	[processes.mailer]
//	command = "python -m mailer"
//	count = 2
//	stop_timeout = "60s"
type Process struct {
	// Command is run with /bin/sh -c in the release, as the app.
	Command string
	// Count is how many copies run per host (default 1).
	Count int
	// StopTimeout is how long a copy has, after SIGTERM, to finish the job
	// in hand before it is killed (default "30s").
	StopTimeout Duration

	// bad says what was wrong with the value in the file (reported by
	// Validate, with the file's line).
	bad []string
}

// DefaultStopTimeout is a process's stop_timeout when stack.toml names none.
const DefaultStopTimeout = "30s"

// UnmarshalTOML reads a process from a string (its command) or a table.
func (p *Process) UnmarshalTOML(v any) error {
	*p = Process{Count: 1, StopTimeout: DefaultStopTimeout}
	switch v := v.(type) {
	case string:
		p.Command = v
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			switch x := v[k]; k {
			case "command":
				if s, ok := x.(string); ok {
					p.Command = s
				} else {
					p.bad = append(p.bad, "command must be a string")
				}
			case "count":
				if n, ok := x.(int64); ok {
					p.Count = int(n)
				} else {
					p.bad = append(p.bad, "count must be a whole number")
				}
			case "stop_timeout":
				if s, ok := x.(string); ok {
					p.StopTimeout = Duration(s)
				} else {
					p.bad = append(p.bad, `stop_timeout must be a time such as "60s"`)
				}
			default:
				p.bad = append(p.bad, fmt.Sprintf("unknown key %q (command, count, stop_timeout)", k))
			}
		}
	default:
		p.bad = append(p.bad, `must be a command ("python -m worker") or a table with command, count and stop_timeout`)
	}
	return nil
}

// Simple reports whether the process is just a command: it is written
// back as `name = "command"`.
func (p Process) Simple() bool {
	return p.Count == 1 && p.StopTimeout == DefaultStopTimeout
}

// Schedule is a command run on a calendar ([[schedules]]): a systemd timer
// on servers, run in the current release as the app.
type Schedule struct {
	// Name names the timer (<deploy.service>-<name>.timer).
	Name string `toml:"name"`
	// Command is run with /bin/sh -c in the release, as the app.
	Command string `toml:"command"`
	// On is when, in systemd's OnCalendar= syntax ("hourly", "*:0/15",
	// "Mon 04:00").
	On string `toml:"on"`
	// Hosts is "one" (the first app host, the default) or "all".
	Hosts string `toml:"hosts"`
}

// procNameRE is a process or schedule name: it becomes part of systemd
// unit names (<service>-<name>-<copy>@<release>.service), so no '-' that
// would make two names' units alike.
var procNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// reservedProcNames are names the app's own units use.
var reservedProcNames = map[string]string{
	"web":     "the web app is [app]",
	"release": "deploy.release_command runs as <service>-release-…",
	"exec":    "stackctl exec runs as <service>-exec-…",
}

// ValidateProcessName checks a process or schedule name.
func ValidateProcessName(name string) error {
	if !procNameRE.MatchString(name) {
		return fmt.Errorf("%q is not a process name: a lower-case letter, then letters, digits or _ (at most 32)", name)
	}
	if why, ok := reservedProcNames[name]; ok {
		return fmt.Errorf("%q is reserved: %s", name, why)
	}
	return nil
}

// ProcessNames returns the names of c.Processes, sorted.
func (c *Config) ProcessNames() []string {
	names := make([]string, 0, len(c.Processes))
	for n := range c.Processes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (v *validator) processes(c *Config) {
	seen := map[string]string{}
	for _, name := range c.ProcessNames() {
		p := c.Processes[name]
		field := "processes." + name
		v.check(field, ValidateProcessName(name))
		for _, b := range p.bad {
			v.add(field, "%s", b)
		}
		if len(p.bad) > 0 {
			continue
		}
		if strings.TrimSpace(p.Command) == "" {
			v.add(field, "the command is empty")
		}
		v.noNewline(field, p.Command)
		if p.Count < 1 || p.Count > 64 {
			v.add(field+".count", "%d is not between 1 and 64", p.Count)
		}
		v.positive(field+".stop_timeout", p.StopTimeout)
		seen[name] = "a process"
	}
	for i, s := range c.Schedules {
		field := fmt.Sprintf("schedules[%d]", i)
		if err := ValidateProcessName(s.Name); err != nil {
			v.add(field+".name", "%s", strings.Replace(err.Error(), "process name", "schedule name", 1))
		} else if other, ok := seen[s.Name]; ok {
			v.add(field+".name", "%q is already the name of %s: each process and schedule needs a name of its own", s.Name, other)
		}
		seen[s.Name] = "a schedule"
		if strings.TrimSpace(s.Command) == "" {
			v.add(field+".command", "is empty: say what to run")
		}
		v.noNewline(field+".command", s.Command)
		if err := ValidateCalendar(s.On); err != nil {
			v.add(field+".on", "%v", err)
		}
		if !oneOf(s.Hosts, "one", "all") {
			v.add(field+".hosts", "%q is not one of \"one\" (the first app host) or \"all\"", s.Hosts)
		}
	}
}

// calendarShorthands are OnCalendar='s words for common schedules.
var calendarShorthands = map[string]bool{
	"minutely": true, "hourly": true, "daily": true, "weekly": true, "monthly": true,
	"yearly": true, "annually": true, "quarterly": true, "semiannually": true,
}

var weekdays = map[string]bool{
	"mon": true, "monday": true, "tue": true, "tuesday": true, "wed": true, "wednesday": true,
	"thu": true, "thursday": true, "fri": true, "friday": true, "sat": true, "saturday": true,
	"sun": true, "sunday": true,
}

// ValidateCalendar checks a time in systemd's OnCalendar= syntax
// (systemd.time(7)): a shorthand ("daily"), or [weekdays] [date] [time]
// [timezone], with *, lists (a,b), ranges (a..b) and repetitions (/n).
// Deploy has the server's systemd-analyze check it again.
func ValidateCalendar(s string) error {
	s = strings.TrimSpace(s)
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%q is not a systemd calendar time (OnCalendar=, such as \"hourly\", \"*:0/15\", \"Mon..Fri 04:00\"): %s", s, fmt.Sprintf(format, args...))
	}
	if s == "" {
		return fmt.Errorf("is empty: say when to run (systemd OnCalendar= syntax, such as \"hourly\" or \"*:0/15\")")
	}
	if strings.ContainsAny(s, "\"'\\;$%\n\r\x00") {
		return bad("it holds a character systemd's calendar syntax has no use for")
	}
	if calendarShorthands[strings.ToLower(s)] {
		return nil
	}
	fields := strings.Fields(s)
	if len(fields) > 0 && (fields[len(fields)-1] == "UTC" || strings.Contains(fields[len(fields)-1], "/") && !strings.ContainsAny(fields[len(fields)-1], ":-*")) {
		fields = fields[:len(fields)-1]
	}
	if len(fields) > 0 && isWeekdaySpec(fields[0]) {
		if err := checkWeekdays(fields[0]); err != nil {
			return bad("%v", err)
		}
		fields = fields[1:]
	}
	var date, clock string
	for _, f := range fields {
		switch {
		case strings.Contains(f, ":") && clock == "":
			clock = f
		case strings.Contains(f, "-") && date == "" && clock == "":
			date = f
		default:
			return bad("%q is not a date (Y-M-D) or a time (H:M[:S]) here", f)
		}
	}
	if date != "" {
		parts := splitDate(date)
		if len(parts) < 2 || len(parts) > 3 {
			return bad("the date %q is not Y-M-D or M-D", date)
		}
		limits := [][2]int{{1, 12}, {1, 31}}
		if len(parts) == 3 {
			limits = append([][2]int{{1970, 2199}}, limits...)
		}
		for i, p := range parts {
			if err := checkCalendarComponent(p, limits[i][0], limits[i][1]); err != nil {
				return bad("in the date: %v", err)
			}
		}
	}
	if clock != "" {
		parts := strings.Split(clock, ":")
		if len(parts) < 2 || len(parts) > 3 {
			return bad("the time %q is not H:M or H:M:S", clock)
		}
		limits := [][2]int{{0, 23}, {0, 59}, {0, 60}}
		for i, p := range parts {
			if i == 2 {
				p = trimFraction(p)
			}
			if err := checkCalendarComponent(p, limits[i][0], limits[i][1]); err != nil {
				return bad("in the time: %v", err)
			}
		}
	}
	return nil
}

// splitDate splits a date at the '-' between components (and the '~'
// that counts days from the end of the month).
func splitDate(d string) []string {
	return strings.FieldsFunc(d, func(r rune) bool { return r == '-' || r == '~' })
}

// trimFraction drops a seconds' fraction ("05.5" → "05") in each item.
func trimFraction(p string) string {
	items := strings.Split(p, ",")
	for i, it := range items {
		if j := strings.IndexByte(it, '.'); j > 0 && (j+1 >= len(it) || it[j+1] != '.') {
			k := j + 1
			for k < len(it) && it[k] >= '0' && it[k] <= '9' {
				k++
			}
			items[i] = it[:j] + it[k:]
		}
	}
	return strings.Join(items, ",")
}

func isWeekdaySpec(f string) bool {
	return f != "" && (f[0] >= 'A' && f[0] <= 'Z' || f[0] >= 'a' && f[0] <= 'z')
}

func checkWeekdays(f string) error {
	for _, item := range strings.Split(f, ",") {
		lo, hi, isRange := strings.Cut(item, "..")
		if !isRange {
			lo, hi, isRange = strings.Cut(item, "-")
		}
		days := []string{lo}
		if isRange {
			days = append(days, hi)
		}
		for _, d := range days {
			if !weekdays[strings.ToLower(d)] {
				return fmt.Errorf("%q is not a weekday (Mon, Tue, … or Monday, …; ranges Mon..Fri)", d)
			}
		}
	}
	return nil
}

// checkCalendarComponent checks one component: "*" or a list of values
// and ranges, each maybe with a repetition "/n".
func checkCalendarComponent(p string, lo, hi int) error {
	if p == "" {
		return fmt.Errorf("a component is empty")
	}
	for _, item := range strings.Split(p, ",") {
		base, rep, hasRep := strings.Cut(item, "/")
		if hasRep {
			if n, err := strconv.Atoi(rep); err != nil || n < 1 {
				return fmt.Errorf("%q: the repetition after / must be a number above 0", item)
			}
		}
		if base == "*" {
			continue
		}
		a, b, isRange := strings.Cut(base, "..")
		for _, x := range []string{a, b} {
			if x == "" && !isRange {
				continue
			}
			n, err := strconv.Atoi(x)
			if err != nil || n < lo || n > hi {
				return fmt.Errorf("%q: expected * or a number from %d to %d", item, lo, hi)
			}
		}
	}
	return nil
}
