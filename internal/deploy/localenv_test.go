package deploy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/nginxtest"
)

// The local deploy keeps app.env out of the unit, which every user can
// read: the values go to a root-only environment file the unit loads, and
// --dry-run does not show them.
func TestLocalDeployKeepsAppEnvRootOnly(t *testing.T) {
	t.Parallel()
	nginxtest.Require(t)
	ngx := newDebianRoot(t)
	c := project(t, "envapp")
	c.App.Env = map[string]string{"API_TOKEN": "tok-5f2e9a"}
	var out bytes.Buffer
	o := deployOpts(c, ngx.root, &out)
	o.DryRun = true
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatalf("dry run: %v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "tok-5f2e9a") {
		t.Errorf("--dry-run shows an app.env value:\n%s", out.String())
	}
	out.Reset()
	o.DryRun = false
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	unit, err := os.ReadFile(filepath.Join(ngx.root, "etc/systemd/system/envapp.service"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(unit), "tok-5f2e9a") || !strings.Contains(string(unit), "EnvironmentFile=/etc/stackctl/envapp/app.env\n") {
		t.Errorf("the unit holds app.env or does not load its file:\n%s", unit)
	}
	envPath := filepath.Join(ngx.root, "etc/stackctl/envapp/app.env")
	st, err := os.Stat(envPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s is %v, want 0600", envPath, st.Mode().Perm())
	}
	data, _ := os.ReadFile(envPath)
	if env, err := ParseEnvFile(data); err != nil || env["API_TOKEN"] != "tok-5f2e9a" {
		t.Errorf("app.env = %q (%v)", data, err)
	}
	if strings.Contains(out.String(), "tok-5f2e9a") {
		t.Errorf("deploy printed an app.env value:\n%s", out.String())
	}
}
