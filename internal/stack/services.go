package stack

import (
	"fmt"
	"sort"
)

// Services are the databases deploy runs beside the app, from Debian's
// packages ([services] in stack.toml):
//
//	[services]
//	postgres = true              # or { host = "db1", version = "15" }
//	redis    = true
//	backups  = 7                 # database backups kept per host
type Services struct {
	// Postgres is Debian's PostgreSQL: a role and a database for the app,
	// DATABASE_URL in the app's environment.
	Postgres Service `toml:"postgres"`
	// Redis is Debian's Redis: a user for the app, REDIS_URL in its
	// environment.
	Redis Service `toml:"redis"`
	// Backups is how many database backups are kept (default 7).
	Backups int `toml:"backups"`
}

// DefaultBackups is services.backups when stack.toml names none.
const DefaultBackups = 7

// Service is one service: true, or a table with host and version.
type Service struct {
	// Enabled is true when the service runs.
	Enabled bool
	// Host is the SSH destination it runs on: an app host as written in
	// deploy.hosts, or a host of its own ("db1") that runs only services;
	// empty for the first app host.
	Host string
	// Version is the major version wanted ("15"); empty for Debian's.
	Version string

	bad []string
}

// UnmarshalTOML reads a service from true/false or a table.
func (s *Service) UnmarshalTOML(v any) error {
	*s = Service{}
	switch v := v.(type) {
	case bool:
		s.Enabled = v
	case map[string]any:
		s.Enabled = true
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			x, ok := v[k].(string)
			switch {
			case k == "host" && ok:
				s.Host = x
			case k == "version" && ok:
				s.Version = x
			case k == "host" || k == "version":
				s.bad = append(s.bad, k+" must be a string")
			default:
				s.bad = append(s.bad, fmt.Sprintf("unknown key %q (host, version)", k))
			}
		}
	default:
		s.bad = append(s.bad, `must be true, false or a table { host = "…", version = "…" }`)
	}
	return nil
}

// Simple reports whether the service is written back as true or false.
func (s Service) Simple() bool { return s.Host == "" && s.Version == "" }

// OwnHost reports whether s runs on a host of its own: one that is not an
// app host of c.
func (s Service) OwnHost(c *Config) bool {
	return s.Enabled && s.Host != "" && !oneOf(s.Host, c.Deploy.Hosts...)
}

// ServiceHosts are the destinations of the hosts of their own that the
// enabled services of c run on, each once, postgres's first.
func (c *Config) ServiceHosts() []string {
	var out []string
	for _, s := range []Service{c.Services.Postgres, c.Services.Redis} {
		if s.OwnHost(c) && !oneOf(s.Host, out...) {
			out = append(out, s.Host)
		}
	}
	return out
}

// Any reports whether a service is on.
func (s Services) Any() bool { return s.Postgres.Enabled || s.Redis.Enabled }

func (v *validator) services(c *Config) {
	for _, x := range []struct {
		name     string
		s        Service
		versions []string
	}{{"postgres", c.Services.Postgres, []string{"15"}}, {"redis", c.Services.Redis, []string{"7"}}} {
		field := "services." + x.name
		for _, b := range x.s.bad {
			v.add(field, "%s", b)
		}
		if x.s.Version != "" && !oneOf(x.s.Version, x.versions...) {
			v.add(field+".version", "%q: deploy installs Debian 12's %s %s; leave version out, or write %q", x.s.Version, x.name, x.versions[0], x.versions[0])
		}
		if x.s.Host == "" || oneOf(x.s.Host, c.Deploy.Hosts...) {
			continue
		}
		if _, err := ParseDestination(x.s.Host); err != nil {
			v.add(field+".host", "%v", err)
		} else if len(c.Deploy.Hosts) == 0 {
			v.add(field+".host", "%q: a host of its own for %s needs deploy.hosts, the app hosts it serves; without them the app and its services run on this machine", x.s.Host, x.name)
		} else if x.s.Host == c.Deploy.LB {
			v.add(field+".host", "%q is deploy.lb, which runs only nginx: name an app host of deploy.hosts %v or a host of its own (\"db1\")", x.s.Host, c.Deploy.Hosts)
		}
	}
	if c.Services.Backups < 1 || c.Services.Backups > 1000 {
		v.add("services.backups", "%d is not between 1 and 1000", c.Services.Backups)
	}
}
