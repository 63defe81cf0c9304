package stack

import "testing"

func TestParseDestination(t *testing.T) {
	good := map[string]Destination{
		"web1":                   {Host: "web1"},
		"deploy@203.0.113.10":    {User: "deploy", Host: "203.0.113.10"},
		"web3:2222":              {Host: "web3", Port: 2222},
		"root@[2001:db8::1]:22":  {User: "root", Host: "2001:db8::1", Port: 22},
		"app.example.org":        {Host: "app.example.org"},
		"deploy@host_alias:2200": {User: "deploy", Host: "host_alias", Port: 2200},
	}
	for in, want := range good {
		got, err := ParseDestination(in)
		if err != nil || got != want {
			t.Errorf("ParseDestination(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if got.String() != in {
			t.Errorf("%+v.String() = %q, want %q", got, got.String(), in)
		}
	}
	bad := []string{
		"", "-oProxyCommand=touch /tmp/x", "web1 -v", "web1;id", "a@-b", "web1:0", "web1:65536",
		"web1:22x", "web1:022", "`id`@web1", "web1\nHost *", "-p", "[::1", "[web1]:22", "we%hb",
		"$(id)", "web1/..", "a..b", "x@", "@web1", "web1:",
	}
	for _, in := range bad {
		if _, err := ParseDestination(in); err == nil {
			t.Errorf("ParseDestination(%q): accepted, want an error", in)
		}
	}
}

func TestValidateDeployKeys(t *testing.T) {
	c := Default("myapp", "go")
	c.Deploy.Hosts = []string{"web1", "-oProxyCommand=x", "web1"}
	c.Deploy.SSHConfig = "-F/etc/passwd"
	c.Deploy.KeepReleases = 1
	c.Deploy.ReleaseCommand = "flask db upgrade\nrm -rf /"
	c.App.Port = 60000
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted hostile deploy keys")
	}
	for _, field := range []string{"deploy.hosts[1]", "deploy.hosts[2]", "deploy.ssh_config", "deploy.keep_releases", "deploy.release_command", "app.port"} {
		if !containsField(err, field) {
			t.Errorf("no error names %s: %v", field, err)
		}
	}
}

// deploy.health_timeout is an nginx-style time between 1s and 1h; the
// default is 60s.
func TestValidateHealthTimeout(t *testing.T) {
	if got := Default("myapp", "go").Deploy.HealthTimeout; got != DefaultHealthTimeout {
		t.Errorf("default deploy.health_timeout = %q, want %q", got, DefaultHealthTimeout)
	}
	for _, tc := range []struct {
		value Duration
		ok    bool
	}{{"60s", true}, {"2m", true}, {"1s", true}, {"1h", true}, {"90", true},
		{"500ms", false}, {"0s", false}, {"2h", false}, {"1s1m", false}, {"soon", false}, {"", false}} {
		c := Default("myapp", "go")
		c.Deploy.HealthTimeout = tc.value
		err := c.Validate()
		if tc.ok && err != nil || !tc.ok && !containsField(err, "deploy.health_timeout") {
			t.Errorf("health_timeout %q: %v, want ok=%v", tc.value, err, tc.ok)
		}
	}
}

func containsField(err error, field string) bool {
	ve, ok := err.(*ValidationError)
	if !ok {
		return false
	}
	for _, e := range ve.Errors {
		if e.Field == field {
			return true
		}
	}
	return false
}

func TestValidateLB(t *testing.T) {
	for name, tc := range map[string]struct {
		edit  func(d *Deploy)
		field string
	}{
		"lb is an app host": {func(d *Deploy) { d.Hosts = []string{"web1"}; d.LB = "web1" }, "deploy.lb"},
		"lb without hosts":  {func(d *Deploy) { d.LB = "lb1" }, "deploy.lb"},
		"lb hostile":        {func(d *Deploy) { d.Hosts = []string{"web1"}; d.LB = "-oProxyCommand=x" }, "deploy.lb"},
		"private not an address": {func(d *Deploy) {
			d.Hosts = []string{"web1"}
			d.PrivateAddresses = map[string]string{"web1": "10.0.0.300"}
		}, "deploy.private_addresses.web1"},
		"private of no host": {func(d *Deploy) {
			d.Hosts = []string{"web1"}
			d.PrivateAddresses = map[string]string{"web9": "10.0.0.9"}
		}, "deploy.private_addresses.web9"},
		"batch zero": {func(d *Deploy) { d.Batch = 0 }, "deploy.batch"},
	} {
		c := Default("myapp", "go")
		tc.edit(&c.Deploy)
		if err := c.Validate(); err == nil || !containsField(err, tc.field) {
			t.Errorf("%s: %v, want an error on %s", name, err, tc.field)
		}
	}
	c := Default("myapp", "go")
	c.Deploy.Hosts = []string{"web1", "web2"}
	c.Deploy.LB = "lb1"
	c.Deploy.PrivateAddresses = map[string]string{"web1": "10.0.0.11"}
	if err := c.Validate(); err != nil {
		t.Errorf("a valid lb set-up: %v", err)
	}
}
