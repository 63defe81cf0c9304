package hosttest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/localca"
)

// PebbleVersion is the version of github.com/letsencrypt/pebble/v2 whose
// pebble and pebble-challtestsrv StartPebble runs (HOSTS.md: certbot 2.1
// gets real certificates from it over HTTP-01).
const PebbleVersion = "v2.10.3"

const (
	// pebbleBinEnv names a folder holding pebble and pebble-challtestsrv
	// (.ci/run prepares it); without it they are built with go install
	// into defaultPebbleBin, once.
	pebbleBinEnv     = "STACKCTL_PEBBLE_BIN"
	defaultPebbleBin = "/var/lib/machines/stackctl-pebble-" + PebbleVersion
	pebbleTimeout    = 30 * time.Second
)

// Pebble is an ACME server for a cluster's hosts: pebble, and
// pebble-challtestsrv answering its DNS queries, both bound to the
// cluster's bridge address only.
type Pebble struct {
	// Directory is the ACME directory URL (nginx.tls.acme_server).
	Directory string
	// CAFile is the CA of pebble's own HTTPS listener, for certbot to
	// trust (nginx.tls.acme_ca).
	CAFile string
	// Root is pebble's issuing root in PEM: what the certificates it
	// issues chain to (curl --cacert).
	Root []byte
	// RootFile holds Root.
	RootFile string

	mgmt string // challtestsrv's management API, http://ADDR:8055
}

var (
	pebbleOnce sync.Once
	pebbleDir  string
	pebbleErr  error
)

// pebbleBinaries returns the folder holding pebble and
// pebble-challtestsrv, installing them from the Go module proxy into
// defaultPebbleBin when missing (once per test binary).
func pebbleBinaries() (string, error) {
	pebbleOnce.Do(func() {
		dir := envOr(pebbleBinEnv, defaultPebbleBin)
		if exists(filepath.Join(dir, "pebble")) && exists(filepath.Join(dir, "pebble-challtestsrv")) {
			pebbleDir = dir
			return
		}
		tmp, err := os.MkdirTemp(filepath.Dir(dir), ".pebble-*")
		if err != nil {
			pebbleErr = err
			return
		}
		defer os.RemoveAll(tmp)
		goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
		env := append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-mod=mod", "GOWORK=off")
		out, err := runEnvIn(5*time.Minute, env, tmp, goBin, "install",
			"github.com/letsencrypt/pebble/v2/cmd/pebble@"+PebbleVersion,
			"github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@"+PebbleVersion)
		if err != nil {
			pebbleErr = fmt.Errorf("go install pebble %s: %v\n%s", PebbleVersion, err, out)
			return
		}
		// Complete, then renamed: an interrupted install is never a cache.
		if err := os.Rename(tmp, dir); err != nil && !exists(filepath.Join(dir, "pebble")) {
			pebbleErr = err
			return
		}
		pebbleDir = dir
	})
	return pebbleDir, pebbleErr
}

// runEnvIn runs a program in dir with env, with a timeout.
func runEnvIn(timeout time.Duration, env []string, dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env, cmd.Dir = env, dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		return out.String(), fmt.Errorf("timed out after %s", timeout)
	}
}

// StartPebble starts pebble and pebble-challtestsrv on the cluster's
// bridge address: pebble's HTTPS listener (:14000, its certificate made
// here with the bridge address as an IP SAN) validates at once
// (PEBBLE_VA_NOSLEEP) and asks challtestsrv (:8053) for every name, which
// answers addr unless SetA says otherwise. Both stop at t's cleanup.
func (c *Cluster) StartPebble(t testing.TB, addr string) *Pebble {
	t.Helper()
	bin, err := pebbleBinaries()
	if err != nil {
		t.Fatalf("hosttest: %v", err)
	}
	dir := filepath.Join(c.Dir, "pebble")
	ca, err := localca.Open(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatalf("hosttest: pebble's CA: %v", err)
	}
	leaf, err := ca.Leaf([]string{c.BridgeAddr})
	if err != nil {
		t.Fatalf("hosttest: pebble's certificate: %v", err)
	}
	listen := net.JoinHostPort(c.BridgeAddr, "14000")
	mgmt := net.JoinHostPort(c.BridgeAddr, "15000")
	dns := net.JoinHostPort(c.BridgeAddr, "8053")
	dnsMgmt := net.JoinHostPort(c.BridgeAddr, "8055")
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":                  listen,
		"managementListenAddress":        mgmt,
		"certificate":                    leaf.CertFile,
		"privateKey":                     leaf.KeyFile,
		"httpPort":                       80,
		"tlsPort":                        443,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
	}}
	confData, _ := json.Marshal(conf)
	confFile := filepath.Join(dir, "pebble-config.json")
	if err := os.WriteFile(confFile, confData, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &Pebble{Directory: "https://" + listen + "/dir", CAFile: ca.CertFile, mgmt: "http://" + dnsMgmt}

	c.startDaemon(t, filepath.Join(dir, "challtestsrv.log"), nil, filepath.Join(bin, "pebble-challtestsrv"),
		"-dnsserver", dns, "-management", dnsMgmt, "-defaultIPv4", addr, "-defaultIPv6", "",
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "")
	c.startDaemon(t, filepath.Join(dir, "pebble.log"),
		[]string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"},
		filepath.Join(bin, "pebble"), "-config", confFile, "-dnsserver", dns)

	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(pebbleTimeout)
	for {
		root, rerr := get(client, "https://"+mgmt+"/roots/0")
		_, derr := get(client, p.Directory)
		var serr error
		if conn, err := net.DialTimeout("tcp", dnsMgmt, time.Second); err != nil {
			serr = err
		} else {
			conn.Close()
		}
		if rerr == nil && derr == nil && serr == nil {
			p.Root = root
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hosttest: pebble not ready after %s: %v %v %v\npebble: %s\nchalltestsrv: %s", pebbleTimeout, rerr, derr, serr,
				tail(filepath.Join(dir, "pebble.log"), 20), tail(filepath.Join(dir, "challtestsrv.log"), 20))
		}
		time.Sleep(pollInterval)
	}
	p.RootFile = filepath.Join(dir, "root.pem")
	if err := os.WriteFile(p.RootFile, p.Root, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("hosttest: pebble %s at %s, DNS answers %s", PebbleVersion, p.Directory, addr)
	return p
}

// get returns the body of a 2xx answer to GET url.
func get(client *http.Client, url string) ([]byte, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, err
}

// SetA makes challtestsrv answer name's A queries with addr (only).
func (p *Pebble) SetA(t testing.TB, name, addr string) {
	t.Helper()
	p.manage(t, "/clear-a", map[string]any{"host": name})
	p.manage(t, "/add-a", map[string]any{"host": name, "addresses": []string{addr}})
}

// manage posts body to challtestsrv's management API.
func (p *Pebble) manage(t testing.TB, path string, body map[string]any) {
	t.Helper()
	data, _ := json.Marshal(body)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Post(p.mgmt+path, "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatalf("hosttest: challtestsrv %s: %v", path, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("hosttest: challtestsrv %s %v: %s", path, body, resp.Status)
	}
}

// startDaemon runs a program of the test machine until t's cleanup (in a
// session of its own, killed with its group), its output in logFile.
func (c *Cluster) startDaemon(t testing.TB, logFile string, env []string, name string, args ...string) {
	t.Helper()
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sessionAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("hosttest: start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		killGroup(cmd.Process.Pid)
		select {
		case <-done:
		case <-time.After(stopGrace):
		}
		f.Close()
	})
}
