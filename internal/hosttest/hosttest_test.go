package hosttest

import (
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// sshAs runs command on host as user through the cluster's ssh config.
func sshAs(c *Cluster, user, host, command string) (string, error) {
	out, err := exec.Command("ssh", "-F", c.SSHConfig, user+"@"+host, "--", command).CombinedOutput()
	return string(out), err
}

func TestTwoHosts(t *testing.T) {
	began := time.Now()
	c := Start(t, "web1", "web2")
	t.Logf("boot time of two hosts (Start, from call to ready): %s", time.Since(began).Round(10*time.Millisecond))

	if len(c.Hosts) != 2 || c.Host("web1").Name != "web1" || c.Host("web2") != c.Hosts[1] {
		t.Fatalf("hosts: %+v", c.Hosts)
	}
	keys := map[string]string{}
	for _, h := range c.Hosts {
		t.Run(h.Name, func(t *testing.T) {
			if got := strings.TrimSpace(c.SSH(t, h.Name, "id -un; hostname")); got != "root\n"+h.Name {
				t.Errorf("id -un; hostname = %q, want root and %s", got, h.Name)
			}
			// systemd is PID 1 and done booting.
			if got := strings.TrimSpace(c.SSH(t, h.Name, "cat /proc/1/comm")); got != "systemd" {
				t.Errorf("PID 1 is %q, want systemd", got)
			}
			// running, not degraded: units failing at boot (e.g. 219/CGROUP
			// when containers share a cgroup) would make tests flaky.
			if st, _ := c.TrySSH(h.Name, "systemctl is-system-running"); strings.TrimSpace(st) != "running" {
				failed, _ := c.TrySSH(h.Name, "systemctl --failed --no-legend --plain")
				t.Errorf("systemctl is-system-running = %q; failed units: %s", st, failed)
			}
			for _, unit := range []string{"ssh", "nginx"} {
				if got := strings.TrimSpace(c.SSH(t, h.Name, "systemctl is-active "+unit)); got != "active" {
					t.Errorf("%s is %q", unit, got)
				}
			}
			// deploy has passwordless sudo, without the "unable to resolve host" warning.
			out, err := sshAs(c, "deploy", h.Name, "id -un; sudo -n true")
			if err != nil || strings.TrimSpace(out) != "deploy" {
				t.Errorf("deploy: id -un; sudo -n true: %v: %q", err, out)
			}
			if out, err := sshAs(c, "deploy", h.Name, "sudo -n id -un"); err != nil || strings.TrimSpace(out) != "root" {
				t.Errorf("deploy: sudo -n id -un: %v: %q", err, out)
			}
			// nosudo logs in, but sudo refuses it.
			out, err = sshAs(c, "nosudo", h.Name, "id -un")
			if err != nil || strings.TrimSpace(out) != "nosudo" {
				t.Errorf("nosudo: id -un: %v: %q", err, out)
			}
			out, err = sshAs(c, "nosudo", h.Name, "sudo -n true")
			if err == nil {
				t.Errorf("nosudo: sudo -n true succeeded: %q", out)
			}
			t.Logf("nosudo: sudo -n true: %v: %s", err, strings.TrimSpace(out))

			// nginx's default site answers from the test machine.
			cl := &http.Client{Timeout: 10 * time.Second}
			resp, err := cl.Get("http://" + h.Addr + "/")
			if err != nil {
				t.Fatalf("GET http://%s/: %v", h.Addr, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Server"), "nginx") || !strings.Contains(string(body), "nginx") {
				t.Errorf("GET http://%s/: %s, Server %q, body %.80q", h.Addr, resp.Status, resp.Header.Get("Server"), body)
			}
			keys[h.Name] = strings.TrimSpace(c.SSH(t, h.Name, "cat /etc/ssh/ssh_host_ed25519_key.pub | cut -d' ' -f2"))
		})
	}
	if keys["web1"] == "" || keys["web1"] == keys["web2"] {
		t.Errorf("host keys: web1 %q, web2 %q: want two different keys", keys["web1"], keys["web2"])
	}
	t.Run("pinned host keys", func(t *testing.T) {
		// Without the cluster's known_hosts, ssh refuses the host.
		out, err := exec.Command("ssh", "-F", c.SSHConfig, "-o", "UserKnownHostsFile=/dev/null", "web1", "true").CombinedOutput()
		if err == nil {
			t.Errorf("ssh without the pinned key succeeded: %s", out)
		}
		// The key is pinned under the alias and the address, which the
		// config also names.
		out, err = exec.Command("ssh", "-F", c.SSHConfig, "root@"+c.Host("web2").Addr, "hostname").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "web2" {
			t.Errorf("ssh root@%s hostname: %v: %s", c.Host("web2").Addr, err, out)
		}
	})

	t.Run("hosts reach each other", func(t *testing.T) {
		w1, w2 := c.Host("web1"), c.Host("web2")
		got := c.SSH(t, "web1", "curl -sS -o /dev/null -w '%{http_code}' http://"+w2.Addr+"/")
		if got != "200" {
			t.Errorf("web1 → web2: %q", got)
		}
		got = c.SSH(t, "web2", "curl -sS -o /dev/null -w '%{http_code}' http://"+w1.Addr+"/")
		if got != "200" {
			t.Errorf("web2 → web1: %q", got)
		}
		// and the test machine, at the bridge address
		if _, err := c.TrySSH("web1", "ip route get "+c.BridgeAddr); err != nil {
			t.Errorf("web1 has no route to %s: %v", c.BridgeAddr, err)
		}
	})

	t.Run("Stop", func(t *testing.T) {
		w2 := c.Host("web2")
		began := time.Now()
		w2.Stop()
		t.Logf("Stop took %s", time.Since(began).Round(10*time.Millisecond))
		w2.Stop() // idempotent
		if out, err := c.TrySSH("web2", "true"); err == nil {
			t.Errorf("ssh web2 after Stop succeeded: %s", out)
		} else {
			t.Logf("ssh web2 after Stop: %v: %s", err, strings.TrimSpace(out))
		}
		cl := &http.Client{Timeout: 5 * time.Second}
		if resp, err := cl.Get("http://" + w2.Addr + "/"); err == nil {
			resp.Body.Close()
			t.Errorf("GET http://%s/ after Stop: %s", w2.Addr, resp.Status)
		}
		if got := strings.TrimSpace(c.SSH(t, "web1", "hostname")); got != "web1" {
			t.Errorf("web1 after stopping web2: hostname %q", got)
		}
	})
}

// Clusters booted at once (as by test packages running in parallel) get
// their own bridge and subnet.
func TestConcurrentClusters(t *testing.T) {
	var a, b *Cluster
	t.Run("group", func(t *testing.T) {
		t.Run("a", func(t *testing.T) {
			t.Parallel()
			a = Start(t, "web1")
			if got := strings.TrimSpace(a.SSH(t, "web1", "hostname")); got != "web1" {
				t.Errorf("hostname %q", got)
			}
		})
		t.Run("b", func(t *testing.T) {
			t.Parallel()
			b = Start(t, "web1")
			if got := strings.TrimSpace(b.SSH(t, "web1", "hostname")); got != "web1" {
				t.Errorf("hostname %q", got)
			}
		})
	})
	if t.Failed() || a == nil || b == nil {
		return
	}
	if a.BridgeAddr == b.BridgeAddr || a.bridge == b.bridge || a.Hosts[0].Addr == b.Hosts[0].Addr {
		t.Errorf("clusters share a network: %s %s / %s %s", a.bridge, a.BridgeAddr, b.bridge, b.BridgeAddr)
	}
	// Both cleaned up: no bridge, namespace or veth left.
	for _, c := range []*Cluster{a, b} {
		if out, err := exec.Command("ip", "link", "show", c.bridge).CombinedOutput(); err == nil {
			t.Errorf("bridge %s left: %s", c.bridge, out)
		}
		h := c.Hosts[0]
		if out, err := exec.Command("ip", "netns", "pids", h.netns).CombinedOutput(); err == nil {
			t.Errorf("netns %s left: %s", h.netns, out)
		}
	}
}
