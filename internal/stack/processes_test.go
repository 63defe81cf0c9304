package stack

import (
	"os/exec"
	"strings"
	"testing"
)

func TestProcessesParse(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(`name = "shop"
[processes]
worker = "celery -A shop worker"
[processes.mailer]
command = "python -m mailer"
count = 3
[[schedules]]
name = "cleanup"
command = "flask cleanup"
on = "*:0/15"
`), "stack.toml")
	if err != nil {
		t.Fatal(err)
	}
	if w := c.Processes["worker"]; w.Command != "celery -A shop worker" || w.Count != 1 || w.StopTimeout != DefaultStopTimeout || !w.Simple() {
		t.Errorf("worker = %+v", w)
	}
	if m := c.Processes["mailer"]; m.Command != "python -m mailer" || m.Count != 3 || m.StopTimeout != DefaultStopTimeout || m.Simple() {
		t.Errorf("mailer = %+v", m)
	}
	if got := c.ProcessNames(); strings.Join(got, ",") != "mailer,worker" {
		t.Errorf("ProcessNames = %v", got)
	}
	if s := c.Schedules[0]; s.Hosts != "one" || s.On != "*:0/15" {
		t.Errorf("schedule = %+v", s)
	}
}

func TestProcessesValidation(t *testing.T) {
	t.Parallel()
	tests := []struct{ file, want string }{
		{"[processes]\nweb = \"gunicorn app:app\"", `stack.toml:3: processes.web: "web" is reserved: the web app is [app]`},
		{"[processes]\nmy-worker = \"x\"", `stack.toml:3: processes.my-worker: "my-worker" is not a process name`},
		{"[processes]\nworker = \"\"", "stack.toml:3: processes.worker: the command is empty"},
		{"[processes]\nworker = 3", "stack.toml:3: processes.worker: must be a command"},
		{"[processes.worker]\ncommand = \"x\"\ncount = 0", "stack.toml:4: processes.worker.count: 0 is not between 1 and 64"},
		{"[processes.worker]\ncommand = \"x\"\ncuont = 2", `stack.toml:2: processes.worker: unknown key "cuont" (command, count, stop_timeout)`},
		{"[processes.worker]\ncommand = \"x\"\nstop_timeout = \"soon\"", "stack.toml:4: processes.worker.stop_timeout:"},
		{"[processes.worker]\ncommand = \"x\"\nstop_timeout = \"0s\"", `stack.toml:4: processes.worker.stop_timeout: "0s" must be longer than zero`},
		{"[[schedules]]\nname = \"a\"\ncommand = \"x\"\non = \"every hour\"", `stack.toml:5: schedules[0].on: "every hour" is not a systemd calendar time`},
		{"[[schedules]]\nname = \"a\"\ncommand = \"x\"", "stack.toml:2: schedules[0].on: is empty"},
		{"[[schedules]]\nname = \"a\"\ncommand = \"x\"\non = \"daily\"\nhosts = \"two\"", `stack.toml:6: schedules[0].hosts: "two" is not one of "one"`},
		{"[[schedules]]\nname = \"release\"\ncommand = \"x\"\non = \"daily\"", `stack.toml:3: schedules[0].name: "release" is reserved`},
		{"[[schedules]]\nname = \"Cleanup\"\ncommand = \"x\"\non = \"daily\"", `stack.toml:3: schedules[0].name: "Cleanup" is not a schedule name`},
		{"[[schedules]]\nname = \"a\"\ncommand = \"\"\non = \"daily\"", "stack.toml:4: schedules[0].command: is empty"},
		{"[processes]\nworker = \"x\"\n[[schedules]]\nname = \"worker\"\ncommand = \"y\"\non = \"daily\"", `stack.toml:5: schedules[0].name: "worker" is already the name of a process`},
		{"[[schedules]]\nname = \"a\"\ncommand = \"x\"\non = \"daily\"\n[[schedules]]\nname = \"a\"\ncommand = \"y\"\non = \"daily\"", `stack.toml:7: schedules[1].name: "a" is already the name of a schedule`},
	}
	for _, tt := range tests {
		_, err := Parse([]byte("name = \"shop\"\n"+tt.file), "stack.toml")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q:\n got %v\nwant %s", tt.file, err, tt.want)
		}
	}
}

// calendarCases are OnCalendar= values and whether systemd takes them.
var calendarCases = []struct {
	on string
	ok bool
}{
	{"hourly", true}, {"daily", true}, {"Weekly", true}, {"minutely", true}, {"semiannually", true},
	{"*:0/15", true}, {"*:*:0/2", true}, {"Mon 04:00", true}, {"Mon..Fri 04:00", true},
	{"Sat,Sun 10:30", true}, {"*-*-* 04:00:00", true}, {"2027-01-01 00:00", true},
	{"*-*-1 03:00", true}, {"*-02-28 12:00:30.5", true}, {"04:00 UTC", true}, {"Mon *-*-* 00:00:00 Europe/Berlin", true},
	{"*-*~1 23:00", true}, {"Fri", true}, {"00/6:00", true}, {"8..18:00", true},
	{"every hour", false}, {"25:00", false}, {"*:61", false}, {"Mun 04:00", false}, {"*-13-01", false},
	{"4 o'clock", false}, {"*:0/0", false}, {"1:2:3:4", false}, {"daily; reboot", false},
}

func TestValidateCalendar(t *testing.T) {
	t.Parallel()
	for _, tt := range calendarCases {
		if err := ValidateCalendar(tt.on); (err == nil) != tt.ok {
			t.Errorf("ValidateCalendar(%q) = %v, want ok=%v", tt.on, err, tt.ok)
		}
	}
}

// The Go check agrees with systemd's own (systemd-analyze calendar), on
// the cases above: what the laptop accepts, a server's timer takes.
func TestValidateCalendarAgreesWithSystemd(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	for _, tt := range calendarCases {
		out, err := exec.Command(bin, "calendar", tt.on).CombinedOutput()
		if (err == nil) != tt.ok {
			t.Errorf("systemd-analyze calendar %q: %v %s; the test says ok=%v", tt.on, err, out, tt.ok)
		}
	}
}

func TestServicesParse(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte("name = \"shop\"\n[deploy]\nhosts = [\"web1\", \"web2\"]\n[services]\npostgres = { host = \"web2\" }\nredis = true\n"), "stack.toml")
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Services.Postgres; !p.Enabled || p.Host != "web2" || !c.Services.Redis.Enabled || !c.Services.Redis.Simple() || c.Services.Backups != DefaultBackups {
		t.Errorf("services = %+v", c.Services)
	}
	if hs := c.ServiceHosts(); len(hs) != 0 {
		t.Errorf("services on app hosts have hosts of their own: %v", hs)
	}
	c, err = Parse([]byte("name = \"shop\"\n[deploy]\nhosts = [\"web1\", \"web2\"]\n[services]\npostgres = { host = \"deploy@db1\" }\nredis = { host = \"deploy@db1\" }\n"), "stack.toml")
	if err != nil {
		t.Fatal(err)
	}
	if hs := c.ServiceHosts(); len(hs) != 1 || hs[0] != "deploy@db1" || !c.Services.Redis.OwnHost(c) {
		t.Errorf("a db host of its own: %v", hs)
	}
	for _, tt := range []struct{ file, want string }{
		{"[services]\npostgres = \"yes\"", "stack.toml:3: services.postgres: must be true, false or a table"},
		{"[services]\npostgres = { host = \"db1\" }", `stack.toml:3: services.postgres.host: "db1": a host of its own for postgres needs deploy.hosts`},
		{"[deploy]\nhosts = [\"web1\"]\n[services]\nredis = { host = \"-oProxyCommand=x\" }", `stack.toml:5: services.redis.host: "-oProxyCommand=x" starts with '-'`},
		{"[deploy]\nhosts = [\"web1\"]\nlb = \"lb1\"\n[services]\npostgres = { host = \"lb1\" }", `stack.toml:6: services.postgres.host: "lb1" is deploy.lb`},
		{"[services]\npostgres = { version = \"16\" }", `stack.toml:3: services.postgres.version: "16": deploy installs Debian 12's postgres 15`},
		{"[services]\nredis = { port = 1 }", `stack.toml:3: services.redis: unknown key "port" (host, version)`},
		{"[services]\nbackups = 0", "stack.toml:3: services.backups: 0 is not between 1 and 1000"},
	} {
		if _, err := Parse([]byte("name = \"shop\"\n"+tt.file), "stack.toml"); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q:\n got %v\nwant %s", tt.file, err, tt.want)
		}
	}
}
