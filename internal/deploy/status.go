package deploy

import (
	"bytes"
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/stackctl/stackctl/internal/host"
)

// HostStatus is what `stackctl status` reports of one host.
type HostStatus struct {
	Host string `json:"host"`
	// Role is "lb" for the load-balancer host (it has no releases or
	// slots), "services" for a host of its own that runs only [services],
	// empty for an app host.
	Role string `json:"role,omitempty"`
	// Release is the current release ("" before the first deploy).
	Release string `json:"release"`
	// Slot is the slot taking traffic ("a", "b", "" before a deploy).
	Slot string `json:"slot"`
	// Slots is each slot's systemd state (systemctl is-active).
	Slots map[string]string `json:"slots"`
	// Nginx is nginx's systemd state.
	Nginx string `json:"nginx"`
	// Health is the status code of GET app.health through the host's
	// nginx with the site's Host header (0: no answer).
	Health int `json:"health"`
	// HealthURL is what was asked, and of which Host.
	HealthURL  string `json:"health_url"`
	HealthHost string `json:"health_host"`
	// Healthy is true when nginx runs, the serving slot runs and the
	// health check answered 2xx or 3xx.
	Healthy bool `json:"healthy"`
	// Processes are the copies of [processes] on the host, Schedules its
	// timers.
	Processes []ProcessStatus  `json:"processes,omitempty"`
	Schedules []ScheduleStatus `json:"schedules,omitempty"`
	// Services are the [services] this host runs.
	Services []ServiceStatus `json:"services,omitempty"`
	// Cert is the site's certificate on a host that terminates TLS (the
	// lb, else each app host) when nginx.tls is on; nil elsewhere, or
	// when there is none (a problem then).
	Cert *CertStatus `json:"cert,omitempty"`
	// Problems say what is wrong, in words.
	Problems []string `json:"problems,omitempty"`
}

// statusScript prints nginx's state and the status code of GET $1 (a URL
// on this host) with Host: $2, through curl when the host has it, else
// bash's /dev/tcp for plain HTTP ($3 port, $4 path).
const statusScript = `set -u
echo "nginx=$(systemctl is-active nginx 2>/dev/null || true)"
code=000
if command -v curl >/dev/null 2>&1; then
	code=$(curl -sk -o /dev/null -m 5 -w '%{http_code}' -H "Host: $2" -H 'User-Agent: stackctl-status' "$1" 2>/dev/null || true)
elif command -v bash >/dev/null 2>&1; then
	code=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
printf "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: stackctl-status\r\n\r\n" "$2" "$3" >&3
IFS=" " read -r proto code rest <&3
echo "$code"' _ "$3" "$4" "$2" 2>/dev/null || true)
fi
echo "health=$code"
`

// Status reads each host's current release, slots, nginx and health
// through nginx. Only an unreachable host is an error; an unhealthy one
// is a HostStatus with Healthy false.
func Status(ctx context.Context, o HostsOptions) ([]HostStatus, error) {
	f, err := newReadOnlyFleet(o)
	if err != nil {
		return nil, err
	}
	tlsOn := f.c.Nginx.TLS.Enabled
	var out []HostStatus
	for _, h := range o.Hosts {
		r := &hostRun{fleet: f, h: h}
		if err := r.probe(ctx); err != nil {
			return nil, err
		}
		st := HostStatus{Host: h.Name(), Release: r.state.Current, Slot: r.state.Slot, Slots: map[string]string{}}
		for _, s := range Slots {
			st.Slots[s] = orUnknown(r.facts.Active[s])
		}
		if err := nginxHealth(ctx, f, h, tlsOn && r.facts.Cert, &st); err != nil {
			return nil, err
		}
		if st.Processes, st.Schedules, err = r.processStatus(ctx); err != nil {
			return nil, err
		}
		st.Processes = slices.DeleteFunc(st.Processes, func(p ProcessStatus) bool {
			return p.State == "inactive" && p.Release != st.Release // stopped by the last switch
		})
		st.Problems = append(st.Problems, processProblems(f.c, st)...)
		if st.Services, err = r.servicesStatus(ctx, runsService(f, h, f.c.Services.Postgres), runsService(f, h, f.c.Services.Redis)); err != nil {
			return nil, err
		}
		for _, s := range st.Services {
			if s.State != "active" {
				st.Problems = append(st.Problems, s.Name+" is "+s.State)
			}
		}
		switch {
		case st.Release == "":
			st.Problems = append(st.Problems, "no release deployed")
		case st.Slots[st.Slot] != "active":
			st.Problems = append(st.Problems, "slot "+st.Slot+" (serving) is "+st.Slots[st.Slot])
		}
		if st.Nginx != "active" {
			st.Problems = append(st.Problems, "nginx is "+st.Nginx)
		}
		if !HealthyStatus(st.Health) {
			st.Problems = append(st.Problems, "GET "+f.c.App.Health+" through nginx: "+answer(st.Health))
		}
		if tlsOn && o.LB == nil {
			if st.Cert, err = readCert(ctx, h, f.c.CertPath()); err != nil {
				return nil, err
			}
			st.Problems = append(st.Problems, certProblems(f.c, st.Cert, f.Now())...)
		}
		if r.pending {
			st.Problems = append(st.Problems, "a cut-off command left its record "+r.l.Journal()+": the next deploy, rollback or env change finishes or reverts it")
		}
		out = append(out, st)
	}
	flagMixedReleases(out)
	for i := range out {
		out[i].Healthy = len(out[i].Problems) == 0
	}
	if o.LB != nil {
		lb, err := lbStatus(ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, lb)
	}
	for _, h := range f.ownServiceHosts() {
		st, err := servicesHostStatus(ctx, f, h)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// servicesHostStatus is the part of status of a host of its own that runs
// [services]: each service's state, version, size and last backup.
func servicesHostStatus(ctx context.Context, f *fleet, h host.Host) (HostStatus, error) {
	st := HostStatus{Host: h.Name(), Role: "services", Slots: map[string]string{}}
	r := &hostRun{fleet: f, h: h}
	var err error
	if st.Services, err = r.servicesStatus(ctx, runsService(f, h, f.c.Services.Postgres), runsService(f, h, f.c.Services.Redis)); err != nil {
		return st, err
	}
	for _, s := range st.Services {
		if s.State != "active" {
			st.Problems = append(st.Problems, s.Name+" is "+s.State)
		}
	}
	st.Healthy = len(st.Problems) == 0
	return st, nil
}

// lbStatus is the load-balancer host's part of status: nginx, and the
// health path through its nginx (so through some app host).
func lbStatus(ctx context.Context, f *fleet) (HostStatus, error) {
	st := HostStatus{Host: f.LB.Name(), Role: "lb", Slots: map[string]string{}}
	cert := ""
	if f.c.Nginx.TLS.Enabled {
		cert = f.c.CertPath()
	}
	facts, err := probeHost(ctx, f.LB, "/nonexistent", f.l.Service, cert, "")
	if err != nil {
		return st, err
	}
	if err := nginxHealth(ctx, f, f.LB, f.c.Nginx.TLS.Enabled && facts.Cert, &st); err != nil {
		return st, err
	}
	if st.Nginx != "active" {
		st.Problems = append(st.Problems, "nginx is "+st.Nginx)
	}
	if !HealthyStatus(st.Health) {
		st.Problems = append(st.Problems, "GET "+f.c.App.Health+" through the lb's nginx: "+answer(st.Health))
	}
	if f.c.Nginx.TLS.Enabled {
		if st.Cert, err = readCert(ctx, f.LB, f.c.CertPath()); err != nil {
			return st, err
		}
		st.Problems = append(st.Problems, certProblems(f.c, st.Cert, f.Now())...)
	}
	st.Healthy = len(st.Problems) == 0
	return st, nil
}

func answer(code int) string {
	if code == 0 {
		return "no answer"
	}
	return strconv.Itoa(code)
}

// nginxHealth asks h's nginx for app.health with the site's Host header
// and fills st's nginx state and health.
func nginxHealth(ctx context.Context, f *fleet, h host.Host, tlsOn bool, st *HostStatus) error {
	target, err := healthTarget(f.c, tlsOn, 0)
	if err != nil {
		return err
	}
	st.HealthURL, st.HealthHost = target.URL, target.Host
	u, _ := url.Parse(target.URL)
	var buf bytes.Buffer
	if err := host.Script(ctx, h, true, statusScript, nil, &buf, target.URL, target.Host, u.Port(), u.RequestURI()); err != nil {
		return err
	}
	for _, line := range strings.Split(buf.String(), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "nginx":
			st.Nginx = orUnknown(v)
		case "health":
			st.Health, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return nil
}

// ServerPrereqs are the facts `stackctl doctor --host` checks on a server.
type ServerPrereqs struct {
	// Login is the SSH login user.
	Login        string
	Systemd      bool
	Nginx        bool
	NginxVersion string
	Bash         bool
	Python3Venv  bool
	Sudo         bool
	Arch         string
}

// ProbeServer reads a server's prerequisites (as root: the dial already
// checked that sudo -n works for a login that is not root).
func ProbeServer(ctx context.Context, h host.Host) (ServerPrereqs, error) {
	f, err := probeHost(ctx, h, "/nonexistent", "stackctl-doctor", "", "")
	if err != nil {
		return ServerPrereqs{}, err
	}
	p := ServerPrereqs{Arch: f.Arch, Systemd: f.Systemd, Nginx: f.Nginx, NginxVersion: f.NginxVersion, Python3Venv: f.Venv, Bash: f.Bash}
	who, _ := host.Output(ctx, h, false, "sh", "-c", "id -un; command -v sudo >/dev/null 2>&1 && echo sudo=1; exit 0")
	for _, line := range strings.Split(who, "\n") {
		switch line = strings.TrimSpace(line); {
		case line == "sudo=1":
			p.Sudo = true
		case line != "" && p.Login == "":
			p.Login = line
		}
	}
	return p, nil
}

// flagMixedReleases adds a problem to every app host when they do not all
// run one release: a rolling deploy cut between hosts, or one under way,
// leaves users served by two versions of the app.
func flagMixedReleases(list []HostStatus) {
	var parts []string
	releases := map[string]bool{}
	for _, s := range list {
		if s.Role == "lb" || s.Release == "" {
			continue
		}
		releases[s.Release] = true
		parts = append(parts, s.Host+" "+s.Release)
	}
	if len(releases) < 2 {
		return
	}
	problem := "the app hosts run different releases (" + strings.Join(parts, ", ") + "): 'stackctl deploy' puts every host on one"
	for i := range list {
		if list[i].Role != "lb" && list[i].Release != "" {
			list[i].Problems = append(list[i].Problems, problem)
		}
	}
}
