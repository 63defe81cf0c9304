package doctor

import (
	"errors"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/deploy"
	"github.com/stackctl/stackctl/internal/ui"
)

func checkNamed(r Report, name string) Check {
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	return Check{}
}

// Each miss on a server is named with the apt-get line that fixes it;
// python3-venv is required only for a Python app.
func TestServerReport(t *testing.T) {
	all := deploy.ServerPrereqs{Login: "deploy", Systemd: true, Nginx: true, NginxVersion: "1.22.1", Bash: true, Python3Venv: true, Sudo: true}
	yes, no := true, false
	if r := Server("web1", all, &yes); !r.OK || r.Host != "web1" {
		t.Errorf("everything present: %+v", r)
	}
	bare := deploy.ServerPrereqs{Login: "deploy"}
	r := Server("web1", bare, &yes)
	if r.OK {
		t.Error("a bare server is OK")
	}
	for name, pkg := range map[string]string{"systemd": "systemd-sysv", "nginx": "nginx", "bash": "bash", "sudo": "sudo", "python3-venv": "python3-venv"} {
		c := checkNamed(r, name)
		if c.Status != Fail || !strings.Contains(c.Fix, "apt-get install "+pkg) || !strings.Contains(c.Fix, "web1") {
			t.Errorf("%s: %+v, want a failure fixed by apt-get install %s", name, c, pkg)
		}
	}
	noVenv := all
	noVenv.Python3Venv = false
	if r := Server("web1", noVenv, &no); !r.OK || checkNamed(r, "python3-venv").Status != Skip {
		t.Errorf("a Go app needs no python3-venv: %+v", r)
	}
	if r := Server("web1", noVenv, nil); !r.OK || checkNamed(r, "python3-venv").Status != Warn {
		t.Errorf("without a project python3-venv is a warning: %+v", r)
	}
	root := all
	root.Login, root.Sudo = "root", false
	if r := Server("web1", root, &no); !r.OK || checkNamed(r, "sudo").Status != OK {
		t.Errorf("root needs no sudo: %+v", r)
	}
}

func TestUnreachableReport(t *testing.T) {
	r := Unreachable("web1", ui.WithFix(errors.New("web1: the host key is not known"), "ssh-keyscan …"))
	c := checkNamed(r, "ssh")
	if r.OK || c.Status != Fail || c.Detail != "the host key is not known" || c.Fix != "ssh-keyscan …" {
		t.Errorf("Unreachable = %+v", r)
	}
}
