// Package hosttest boots real Debian 12 servers (systemd as PID 1, sshd,
// nginx, sudo, python3-venv) for tests that deploy over SSH: each server is
// a systemd-nspawn container with its own network namespace on a bridge made
// for the cluster, reached through the system's ssh client like any VPS.
// See /work/shared/HOSTS.md (HOSTS.md in the project's docs) for the facts
// this relies on.
//
// Every server boots with --volatile=overlay over one cached root
// filesystem (built by mkrootfs.sh next to this file when missing, about 5
// minutes), so each boot is a clean host and nothing leaks between tests.
// Users: root, deploy (NOPASSWD sudo) and nosudo (no sudo rights), all
// accepting the cluster's key. StartWith(t, Options{Bare: true}, …) boots
// servers as a provider hands them over instead (root only, no nginx, no
// sudo). Every cluster's hosts install packages for real from a local
// repository served on the bridge (mkaptrepo.sh).
//
// Tests that call Start are skipped when systemd-nspawn, debootstrap, ip,
// ssh or root rights are missing, and fail instead when
// STACKCTL_REQUIRE_HOSTS=1 (which .ci/run sets).
package hosttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// requireEnv makes a missing prerequisite a failure instead of a skip.
	requireEnv = "STACKCTL_REQUIRE_HOSTS"
	// installHint is what makes the prerequisites present on Debian.
	installHint = "apt-get install debootstrap systemd-container iproute2 openssh-client (as root)"
	// rootfsEnv overrides where the cached root filesystem lives.
	rootfsEnv = "STACKCTL_ROOTFS"
	// defaultRootfs is the cache; bump -vN together with mkrootfs.sh.
	defaultRootfs = "/var/lib/machines/stackctl-bookworm-v2"
	// bareRootfsEnv and aptRepoEnv override where mkaptrepo.sh's caches
	// live; the defaults carry the same -vN as that script.
	bareRootfsEnv     = "STACKCTL_BARE_ROOTFS"
	defaultBareRootfs = "/var/lib/machines/stackctl-bookworm-bare-v1"
	aptRepoEnv        = "STACKCTL_APT_REPO"
	defaultAptRepo    = "/var/lib/machines/stackctl-apt-v1"
	// rootfsMarker exists only in a complete root filesystem.
	rootfsMarker = "etc/stackctl-rootfs"

	// Timeouts of each wait. Generous: go test runs packages in parallel
	// and this machine may be shared, so several clusters can boot at once.
	rootfsTimeout = 20 * time.Minute
	sshdTimeout   = 90 * time.Second
	systemTimeout = 120 * time.Second
	cmdTimeout    = 20 * time.Second
	// installTimeout bounds an apt-get install on a host in hosttest's
	// own tests.
	installTimeout = 5 * time.Minute
	stopGrace      = 5 * time.Second
	pollInterval   = 200 * time.Millisecond
)

// Host is one booted server of a Cluster.
type Host struct {
	Name string // machine name and the ssh config's Host alias ("web1")
	Addr string // its address on the test bridge ("10.77.3.2")

	machine  string   // systemd-nspawn -M: unique on this machine
	netns    string   // ip netns name (/run/netns/NETNS)
	veth     string   // the veth end on the bridge; eth0 is the other end
	log      string   // the container's console output
	cgroups  []string // the cgroup directories nspawn runs in (none = its parent's)
	degraded string   // systemd's failed units after boot, if any

	cmd      *exec.Cmd
	done     chan struct{} // closed when the nspawn process has exited
	waitErr  error         // its exit status, valid once done is closed
	logFile  *os.File
	stopOnce sync.Once
}

// Cluster is a set of servers on one bridge, with the client-side files
// that reach them: an ssh config, a known_hosts file and a key. Dir also
// holds each host's console log (NAME.log).
type Cluster struct {
	Hosts      []*Host
	Dir        string // temp dir holding the files below
	SSHConfig  string // ssh config file: per host `Host NAME` with HostName, User root, IdentityFile, UserKnownHostsFile, StrictHostKeyChecking yes, BatchMode yes
	KnownHosts string // known_hosts with every host's ed25519 key pinned, under the host's alias and its address
	Key        string // private key file (ed25519, made per cluster); its .pub is bind-mounted as authorized_keys for root, deploy and nosudo
	BridgeAddr string // the test machine's address on the bridge ("10.77.3.1")

	// AptSource is the sources.list line of the cluster's package
	// repository ("deb [trusted=yes] http://10.77.3.1:PORT/ ./"), which
	// is every host's /etc/apt/sources.list.
	AptSource string

	t       testing.TB // Start's, for Host's failure
	bridge  string     // stkbrN
	net     int        // N: the subnet is 10.77.N.0/24
	bare    bool       // booted from the bare root filesystem
	aptList string     // the sources.list file bound into every host
	aptSrv  *http.Server
}

var validName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)

// Options changes what Start boots.
type Options struct {
	// Bare boots servers fresh from a provider: the root filesystem
	// without nginx, python3-venv, pip, gunicorn, Flask, Django, sudo or
	// the deploy/nosudo users, and no package lists fetched; only root
	// accepts the cluster's key (mkaptrepo.sh builds it).
	Bare bool
}

// Start boots one server per name in parallel and waits until each answers
// SSH and systemd reports the system running (or degraded). It registers
// t.Cleanup to stop them and remove every namespace, veth and bridge it
// made; that cleanup runs whether the test passes or fails (but not when
// the test binary is killed, e.g. by go test's -timeout: then the
// containers are killed with it, and the links may remain).
//
// When systemd-nspawn, debootstrap, ip, ssh or root rights are missing it
// calls t.Skip with the install line, or t.Fatal when
// STACKCTL_REQUIRE_HOSTS=1. It builds the root filesystem (mkrootfs.sh)
// when the cache is missing, which takes minutes.
func Start(t testing.TB, names ...string) *Cluster {
	t.Helper()
	return StartWith(t, Options{}, names...)
}

// StartWith is Start with options. Every cluster, bare or not, gets the
// package repository of mkaptrepo.sh served on its bridge (AptSource):
// each host's /etc/apt/sources.list names only it, so `apt-get update`
// then `apt-get install PKG` installs for real what the repository holds
// (nginx, python3-venv, sudo, postgresql, redis-server, certbot, nftables,
// unattended-upgrades, … — see the script).
func StartWith(t testing.TB, o Options, names ...string) *Cluster {
	t.Helper()
	if len(names) == 0 {
		t.Fatal("hosttest.Start: no host names")
	}
	seen := map[string]bool{}
	for _, n := range names {
		if !validName.MatchString(n) {
			t.Fatalf("hosttest.Start: host name %q: want lower-case letters, digits and '-', starting with a letter, at most 31 characters", n)
		}
		if seen[n] {
			t.Fatalf("hosttest.Start: host name %q given twice", n)
		}
		seen[n] = true
	}
	if len(names) > 250 {
		t.Fatalf("hosttest.Start: %d hosts do not fit one /24", len(names))
	}
	checkPrerequisites(t)
	rootfs := ensureRootfs(t)
	bare, repo := ensureAptRepo(t, rootfs)
	if o.Bare {
		rootfs = bare
	}

	c := &Cluster{Dir: t.TempDir(), t: t, bare: o.Bare}
	// Registered after t.TempDir, so it runs before the dir is removed.
	t.Cleanup(c.cleanup)

	c.Key = filepath.Join(c.Dir, "id_ed25519")
	if out, err := run(cmdTimeout, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hosttest", "-f", c.Key); err != nil {
		t.Fatalf("hosttest: ssh-keygen: %v: %s", err, out)
	}
	if err := c.makeBridge(); err != nil {
		t.Fatalf("hosttest: %v", err)
	}
	if err := c.serveAptRepo(repo); err != nil {
		t.Fatalf("hosttest: %v", err)
	}
	for i, name := range names {
		h := &Host{
			Name:    name,
			Addr:    fmt.Sprintf("10.77.%d.%d", c.net, i+2),
			machine: fmt.Sprintf("stk%d-%s", c.net, name),
			netns:   fmt.Sprintf("stk%dn%d", c.net, i+1),
			veth:    fmt.Sprintf("stk%dv%d", c.net, i+1),
			log:     filepath.Join(c.Dir, name+".log"),
		}
		c.Hosts = append(c.Hosts, h)
		if err := c.plug(h); err != nil {
			t.Fatalf("hosttest: %s: %v", name, err)
		}
	}

	began := time.Now()
	for _, h := range c.Hosts {
		if err := c.boot(h, rootfs); err != nil {
			t.Fatalf("hosttest: %s: %v", h.Name, err)
		}
	}
	// sshd of every host, then the client files, then systemd of every host.
	keys := make([]string, len(c.Hosts))
	if err := c.each(func(i int, h *Host) (err error) {
		keys[i], err = h.waitSSHD()
		return err
	}); err != nil {
		t.Fatalf("hosttest: %v", err)
	}
	sshdAt := time.Since(began)
	if err := c.writeClientFiles(keys); err != nil {
		t.Fatalf("hosttest: %v", err)
	}
	if err := c.each(func(_ int, h *Host) error { return c.waitRunning(h) }); err != nil {
		t.Fatalf("hosttest: %v", err)
	}
	for _, h := range c.Hosts {
		if h.degraded != "" {
			t.Logf("hosttest: %s booted degraded; failed units:\n%s", h.Name, h.degraded)
		}
	}
	t.Logf("hosttest: booted %s on %s (%s/24) in %s (sshd after %s)",
		strings.Join(names, ", "), c.bridge, c.BridgeAddr, time.Since(began).Round(10*time.Millisecond), sshdAt.Round(10*time.Millisecond))
	return c
}

// checkPrerequisites skips t (fails it under STACKCTL_REQUIRE_HOSTS=1)
// when the tools or rights to boot hosts are missing.
func checkPrerequisites(t testing.TB) {
	t.Helper()
	var miss []string
	if os.Geteuid() != 0 {
		miss = append(miss, "root rights")
	}
	for _, tool := range []string{"systemd-nspawn", "debootstrap", "ip", "ssh", "ssh-keygen", "ssh-keyscan"} {
		if _, err := lookPath(tool); err != nil {
			miss = append(miss, tool)
		}
	}
	if len(miss) == 0 {
		return
	}
	msg := "hosttest: cannot boot test servers without " + strings.Join(miss, ", ") + ": " + installHint
	if os.Getenv(requireEnv) == "1" {
		t.Fatalf("%s; %s=1 makes this a failure", msg, requireEnv)
	}
	t.Skipf("%s, or set %s=1 to make this a failure", msg, requireEnv)
}

// lookPath finds tool on PATH or in the sbin directories, which a
// non-login root shell may not have on PATH.
func lookPath(tool string) (string, error) {
	if p, err := exec.LookPath(tool); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(d, tool)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", tool)
}

// rootfsMu keeps the tests of one package from building the root
// filesystem twice; mkrootfs.sh's lock does the same across packages.
var rootfsMu sync.Mutex

// ensureRootfs returns the cached root filesystem, building it first with
// mkrootfs.sh when it is missing.
func ensureRootfs(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(rootfsEnv)
	if dir == "" {
		dir = defaultRootfs
	}
	rootfsMu.Lock()
	defer rootfsMu.Unlock()
	if _, err := os.Stat(filepath.Join(dir, rootfsMarker)); err == nil {
		return dir
	}
	script := besideThisFile(t, "mkrootfs.sh")
	t.Logf("hosttest: building the root filesystem %s with %s (a few minutes, once)", dir, script)
	began := time.Now()
	out, err := run(rootfsTimeout, "bash", script, dir)
	if err != nil {
		t.Fatalf("hosttest: %s %s: %v\n%s", script, dir, err, out)
	}
	t.Logf("hosttest: root filesystem ready in %s", time.Since(began).Round(time.Second))
	return dir
}

// makeBridge claims the first free stkbrN (N = 1…254): creating a link is
// atomic, so concurrent clusters, in this process or in other test
// binaries, each get their own bridge and subnet 10.77.N.0/24.
func (c *Cluster) makeBridge() error {
	for n := 1; n <= 254; n++ {
		name := fmt.Sprintf("stkbr%d", n)
		out, err := run(cmdTimeout, "ip", "link", "add", name, "type", "bridge")
		if err != nil {
			if strings.Contains(out, "File exists") {
				continue
			}
			return fmt.Errorf("ip link add %s type bridge: %v: %s", name, err, out)
		}
		c.bridge, c.net = name, n
		c.BridgeAddr = fmt.Sprintf("10.77.%d.1", n)
		return ipAll(
			[]string{"addr", "add", c.BridgeAddr + "/24", "dev", name},
			[]string{"link", "set", name, "up"},
		)
	}
	return errors.New("no free bridge name stkbr1…stkbr254 (leftovers? see `ip -br link | grep stkbr`)")
}

// plug makes h's network namespace with eth0 on the cluster's bridge.
func (c *Cluster) plug(h *Host) error {
	if out, err := run(cmdTimeout, "ip", "netns", "add", h.netns); err != nil {
		return fmt.Errorf("ip netns add %s: %v: %s", h.netns, err, out)
	}
	return ipAll(
		[]string{"link", "add", h.veth, "type", "veth", "peer", "name", "eth0", "netns", h.netns},
		[]string{"link", "set", h.veth, "master", c.bridge, "up"},
		[]string{"-n", h.netns, "link", "set", "lo", "up"},
		[]string{"-n", h.netns, "addr", "add", h.Addr + "/24", "dev", "eth0"},
		[]string{"-n", h.netns, "link", "set", "eth0", "up"},
		[]string{"-n", h.netns, "route", "add", "default", "via", c.BridgeAddr},
	)
}

// boot starts h's systemd-nspawn in its own session.
func (c *Cluster) boot(h *Host, rootfs string) error {
	nspawn, err := lookPath("systemd-nspawn")
	if err != nil {
		return err
	}
	f, err := os.Create(h.log)
	if err != nil {
		return err
	}
	pub := c.Key + ".pub"
	// systemd-nspawn --keep-unit makes the container's cgroups ("payload",
	// "supervisor") under its own cgroup: started from one process, all
	// containers would share them, and their systemds then race on the
	// same unit cgroups (units failing with status 219/CGROUP). So each
	// nspawn first moves itself into a cgroup of its own, in every
	// hierarchy systemd uses: name=systemd and, on a hybrid cgroup v1
	// machine like this one, the unified v2 hierarchy too (measured: with
	// only the first, boots under concurrent test packages still failed
	// units now and then).
	h.cgroups = ownCgroups(h.machine)
	h.cmd = exec.Command("/bin/sh", "-c",
		`for cg in $HOSTTEST_CGROUPS; do echo $$ >"$cg/cgroup.procs" || echo "hosttest: cannot move into $cg" >&2; done
exec "$0" "$@"`,
		nspawn,
		"-q", "--register=no", "--keep-unit", "--volatile=overlay",
		"-D", rootfs,
		"-M", h.machine, "--hostname="+h.Name,
		"-b",
		"--network-namespace-path=/run/netns/"+h.netns,
		// Root on a server can change its own firewall (setup loads an
		// nftables table); the namespace is the host's own.
		"--capability=CAP_NET_ADMIN",
		"--bind-ro="+pub+":/root/.ssh/authorized_keys",
		"--bind-ro="+c.aptList+":/etc/apt/sources.list",
	)
	if !c.bare {
		h.cmd.Args = append(h.cmd.Args,
			"--bind-ro="+pub+":/home/deploy/.ssh/authorized_keys",
			"--bind-ro="+pub+":/home/nosudo/.ssh/authorized_keys")
	}
	h.cmd.Env = append(os.Environ(), "HOSTTEST_CGROUPS="+strings.Join(h.cgroups, " "))
	h.cmd.Stdin = nil // /dev/null
	h.cmd.Stdout, h.cmd.Stderr = f, f
	// Its own session, so a terminal's signals do not reach it; killed
	// with the test binary if that dies without running cleanups.
	h.cmd.SysProcAttr = sessionAttr()
	if err := h.cmd.Start(); err != nil {
		f.Close()
		h.cmd = nil
		return fmt.Errorf("systemd-nspawn: %v", err)
	}
	h.logFile = f
	h.done = make(chan struct{})
	go func() {
		h.waitErr = h.cmd.Wait()
		f.Close()
		close(h.done)
	}()
	return nil
}

// exited reports, without waiting, whether h's nspawn has ended.
func (h *Host) exited() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// failure describes err with the tail of h's console log.
func (h *Host) failure(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if h.done != nil && h.exited() {
		msg += fmt.Sprintf(" (systemd-nspawn exited: %v)", h.waitErr)
	}
	return fmt.Errorf("%s: %s\n--- last lines of %s:\n%s", h.Name, msg, h.log, tail(h.log, 30))
}

// waitSSHD waits until h's sshd answers and returns its ed25519 host key
// line ("ssh-ed25519 AAAA…").
func (h *Host) waitSSHD() (string, error) {
	deadline := time.Now().Add(sshdTimeout)
	var last string
	for {
		if h.exited() {
			return "", h.failure("ended before sshd answered")
		}
		out, err := run(5*time.Second, "ssh-keyscan", "-T", "2", "-t", "ed25519", h.Addr)
		if err == nil {
			for _, line := range strings.Split(out, "\n") {
				f := strings.Fields(line)
				if len(f) == 3 && f[0] == h.Addr && f[1] == "ssh-ed25519" {
					return f[1] + " " + f[2], nil
				}
			}
		}
		last = strings.TrimSpace(out)
		if time.Now().After(deadline) {
			return "", h.failure("sshd did not answer on %s:22 within %s (ssh-keyscan: %s)", h.Addr, sshdTimeout, last)
		}
		time.Sleep(pollInterval)
	}
}

// writeClientFiles writes the known_hosts file and the ssh config.
func (c *Cluster) writeClientFiles(keys []string) error {
	c.KnownHosts = filepath.Join(c.Dir, "known_hosts")
	c.SSHConfig = filepath.Join(c.Dir, "ssh_config")
	var kh, cfg strings.Builder
	for i, h := range c.Hosts {
		fmt.Fprintf(&kh, "%s,%s %s\n", h.Name, h.Addr, keys[i])
		// The address too, so that user@ADDR gets the same options.
		fmt.Fprintf(&cfg, "Host %s %s\n", h.Name, h.Addr)
		fmt.Fprintf(&cfg, "\tHostName %s\n", h.Addr)
		fmt.Fprintf(&cfg, "\tUser root\n")
		fmt.Fprintf(&cfg, "\tIdentityFile %q\n", c.Key)
		fmt.Fprintf(&cfg, "\tIdentitiesOnly yes\n")
		fmt.Fprintf(&cfg, "\tUserKnownHostsFile %q\n", c.KnownHosts)
		fmt.Fprintf(&cfg, "\tGlobalKnownHostsFile /dev/null\n")
		fmt.Fprintf(&cfg, "\tStrictHostKeyChecking yes\n")
		fmt.Fprintf(&cfg, "\tBatchMode yes\n")
		fmt.Fprintf(&cfg, "\tConnectTimeout 10\n")
		fmt.Fprintf(&cfg, "\n")
	}
	if err := os.WriteFile(c.KnownHosts, []byte(kh.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(c.SSHConfig, []byte(cfg.String()), 0o644)
}

// waitRunning waits for systemd on h to finish booting (running or
// degraded), then names h in its /etc/hosts so sudo does not warn.
func (c *Cluster) waitRunning(h *Host) error {
	deadline := time.Now().Add(systemTimeout)
	var state string
	for {
		if h.exited() {
			return h.failure("ended while booting")
		}
		// Only the last line: while /run/nologin exists, sshd prints its
		// text even to root, before the command's output.
		out, _ := c.runSSH(10*time.Second, h.Name, "systemctl is-system-running")
		out = strings.TrimSpace(out)
		state = out[strings.LastIndexByte(out, '\n')+1:]
		if state == "running" {
			break
		}
		if state == "degraded" {
			failed, _ := c.runSSH(10*time.Second, h.Name, "systemctl --failed --no-legend --plain")
			h.degraded = strings.TrimSpace(failed)
			break
		}
		if time.Now().After(deadline) {
			failed, _ := c.runSSH(10*time.Second, h.Name, "systemctl --failed --no-legend --plain; systemctl list-jobs --no-legend; journalctl -b -p warning --no-pager | tail -n 20")
			return h.failure("systemd not running within %s: is-system-running says %q; failed units and jobs:\n%s", systemTimeout, state, failed)
		}
		time.Sleep(pollInterval)
	}
	line := "127.0.1.1 " + h.Name
	if out, err := c.runSSH(cmdTimeout, h.Name, "grep -qxF '"+line+"' /etc/hosts 2>/dev/null || echo '"+line+"' >>/etc/hosts"); err != nil {
		return h.failure("adding %q to /etc/hosts: %v: %s", line, err, out)
	}
	return nil
}

// each runs f for every host in parallel and joins the errors.
func (c *Cluster) each(f func(i int, h *Host) error) error {
	errs := make([]error, len(c.Hosts))
	var wg sync.WaitGroup
	for i, h := range c.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(i, h)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Host returns the host named name (t.Fatal, with the t given to Start,
// when there is none).
func (c *Cluster) Host(name string) *Host {
	c.t.Helper()
	h := c.host(name)
	if h == nil {
		c.t.Fatalf("hosttest: no host %q in this cluster", name)
	}
	return h
}

func (c *Cluster) host(name string) *Host {
	for _, h := range c.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// SSH runs a shell command on the host named name as root, through the
// cluster's ssh config (the system's ssh, -F c.SSHConfig), and returns its
// combined output; t.Fatal on failure, with the output.
func (c *Cluster) SSH(t testing.TB, name, command string) string {
	t.Helper()
	out, err := c.TrySSH(name, command)
	if err != nil {
		t.Fatalf("ssh %s %q: %v\n%s", name, command, err, out)
	}
	return out
}

// TrySSH is SSH returning the error instead: ssh's exit status (255 for a
// connection failure, else the command's) or a timeout after 10 minutes.
func (c *Cluster) TrySSH(name, command string) (string, error) {
	if c.host(name) == nil {
		return "", fmt.Errorf("hosttest: no host %q in this cluster", name)
	}
	return c.runSSH(10*time.Minute, name, command)
}

// TrySSHInput is TrySSH with stdin: a secret reaches the host's command
// without being on any command line.
func (c *Cluster) TrySSHInput(name, command, stdin string) (string, error) {
	if c.host(name) == nil {
		return "", fmt.Errorf("hosttest: no host %q in this cluster", name)
	}
	path, err := lookPath("ssh")
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-F", c.SSHConfig, name, "--", command)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	return out.String(), err
}

func (c *Cluster) runSSH(timeout time.Duration, name, command string) (string, error) {
	return run(timeout, "ssh", "-F", c.SSHConfig, name, "--", command)
}

// Stop shuts the host down and unplugs it from the bridge, so that it no
// longer answers (for tests of an unreachable host). It asks systemd to
// shut down cleanly (SIGTERM to systemd-nspawn) and kills it after 5 s.
// Stopping a stopped host does nothing.
func (h *Host) Stop() {
	h.stopOnce.Do(func() {
		if h.cmd != nil {
			_ = h.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-h.done:
			case <-time.After(stopGrace):
				killGroup(h.cmd.Process.Pid)
				_ = h.cmd.Process.Kill()
				select {
				case <-h.done:
				case <-time.After(stopGrace):
				}
			}
		}
		// Deleting the namespace deletes eth0 and so its veth peer; the
		// explicit delete covers a namespace that did not get the pair.
		run(cmdTimeout, "ip", "netns", "del", h.netns)
		run(cmdTimeout, "ip", "link", "del", h.veth)
		for _, cg := range h.cgroups {
			removeCgroup(cg)
		}
	})
}

// cleanup stops every host in parallel and removes the bridge.
func (c *Cluster) cleanup() {
	var wg sync.WaitGroup
	for _, h := range c.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.Stop()
		}()
	}
	wg.Wait()
	if c.aptSrv != nil {
		c.aptSrv.Close()
	}
	if c.bridge != "" {
		run(cmdTimeout, "ip", "link", "del", c.bridge)
	}
}

// run runs a command with a timeout and returns its combined output.
func run(timeout time.Duration, name string, args ...string) (string, error) {
	return runEnv(timeout, nil, name, args...)
}

// runEnv is run with env added to this process's environment.
func runEnv(timeout time.Duration, env []string, name string, args ...string) (string, error) {
	path, err := lookPath(name)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("timed out after %s", timeout)
	}
	return out.String(), err
}

// ipAll runs `ip ARGS…` for each argument list, stopping at the first error.
func ipAll(cmds ...[]string) error {
	for _, args := range cmds {
		if out, err := run(cmdTimeout, "ip", args...); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out))
		}
	}
	return nil
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ownCgroups makes a cgroup for the nspawn of machine under this process's
// cgroup in each hierarchy systemd uses (name=systemd on cgroup v1, the
// unified one on v2 or hybrid machines) and returns their directories.
func ownCgroups(machine string) []string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil
	}
	var bases []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		switch {
		case f[1] == "name=systemd":
			bases = append(bases, filepath.Join("/sys/fs/cgroup/systemd", f[2]))
		case f[0] == "0" && f[1] == "":
			if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
				bases = append(bases, filepath.Join("/sys/fs/cgroup", f[2])) // pure v2
			} else if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.controllers"); err == nil {
				bases = append(bases, filepath.Join("/sys/fs/cgroup/unified", f[2])) // hybrid
			}
		}
	}
	var dirs []string
	for _, base := range bases {
		dir := filepath.Join(base, "hosttest-"+machine)
		if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
			continue
		}
		dirs = append(dirs, dir)
	}
	return dirs
}

// removeCgroup removes the cgroup dir and the cgroups nspawn left in it
// (cgroup directories go with rmdir, deepest first, once empty).
func removeCgroup(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			removeCgroup(filepath.Join(dir, e.Name()))
		}
	}
	_ = os.Remove(dir)
}
