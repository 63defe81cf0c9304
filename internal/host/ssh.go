package host

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// SSHOptions say how to reach servers.
type SSHOptions struct {
	// Config is the ssh_config file; empty means ssh's default
	// (~/.ssh/config of the user's passwd entry).
	Config string
	// ConnectTimeout bounds the TCP connection and the handshake; 0 means 10s.
	ConnectTimeout time.Duration
}

// SSH is a server reached with the system's OpenSSH client over one
// connection (a control master) that every command is multiplexed on.
//
// Host keys are always checked against known_hosts, for the destination
// and for every ProxyJump hop (see writeConfig): StrictHostKeyChecking=yes
// comes before any ssh_config, where it overrides every one;
// authentication never asks for a password (BatchMode=yes), and
// privileged commands run through `sudo -n`.
type SSH struct {
	dest     stack.Destination
	name     string
	opts     SSHOptions
	dir      string // holds the control socket
	resolved sshSettings
	root     bool // the login user is root
}

// sshSettings are what `ssh -G` says the destination resolves to.
type sshSettings struct {
	HostName   string
	Port       int
	User       string
	KnownHosts []string
	// HostKeyAlias is the name its key is looked up under, if not HostName.
	HostKeyAlias string
	// ProxyJump is the hops before it ("" or "none": none).
	ProxyJump string
}

// Dial connects to dest ([user@]host[:port] or an ssh_config alias),
// checking its host key before anything is sent, and checks that it can
// run privileged commands. Errors name the host and the fix.
func Dial(ctx context.Context, dest string, o SSHOptions) (*SSH, error) {
	d, err := stack.ParseDestination(dest)
	if err != nil {
		return nil, ui.WithFix(fmt.Errorf("host %v", err), "write it as [user@]host[:port] or a Host alias of your ssh config")
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if _, err := exec.LookPath("ssh"); err != nil {
		return nil, ui.WithFix(errors.New("the ssh client is not installed"), "apt-get install openssh-client")
	}
	if o.Config != "" {
		if _, err := os.Stat(o.Config); err != nil {
			return nil, ui.WithFix(fmt.Errorf("ssh config: %w", err), "pass an existing file with --ssh-config (deploy.ssh_config)")
		}
	}
	dir, err := os.MkdirTemp("", "stackctl-ssh-")
	if err != nil {
		return nil, err
	}
	s := &SSH{dest: d, name: dest, opts: o, dir: dir}
	if err := s.writeConfig(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if s.resolved, err = s.settings(ctx, s.dest); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.root = s.resolved.User == "root"
	if err := s.startMaster(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if !s.root {
		if err := s.checkSudo(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Name implements Host.
func (s *SSH) Name() string { return s.name }

// Addr is the address the connection reached (ssh_config's HostName).
func (s *SSH) Addr() string { return s.resolved.HostName }

// Port is the SSH port the connection reached.
func (s *SSH) Port() int { return s.resolved.Port }

// User is the login user.
func (s *SSH) User() string { return s.resolved.User }

func (s *SSH) controlPath() string { return filepath.Join(s.dir, "cm") }

func (s *SSH) configPath() string { return filepath.Join(s.dir, "config") }

// Drop ends the connection abruptly, as a network failure would: commands
// running on it fail, and later commands connect anew (with the same
// checks). Tests use it to drop a deploy's connection mid-way.
func (s *SSH) Drop() error {
	args := append(s.baseArgs(), "-O", "exit", "--", s.dest.Host)
	return exec.Command("ssh", args...).Run()
}

// baseArgs are the options of every ssh invocation, before the destination.
func (s *SSH) baseArgs() []string {
	return append(s.optionArgs(), destArgs(s.dest)...)
}

// optionArgs are the options of every ssh invocation: our config (which
// includes the user's, and which ssh passes on to ProxyJump hops), then
// the strict options again on the command line, which the hops do not
// get but the config gives them.
func (s *SSH) optionArgs() []string {
	return []string{"-F", s.configPath(),
		"-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes",
		"-o", "UpdateHostKeys=no",
		"-o", "ConnectTimeout=" + strconv.Itoa(int(s.opts.ConnectTimeout/time.Second)),
		"-o", "ServerAliveInterval=5",
		"-o", "ServerAliveCountMax=3",
		"-o", "ControlPath=" + s.controlPath(),
		"-o", "LogLevel=ERROR",
	}
}

// destArgs are -l and -p for what d names.
func destArgs(d stack.Destination) []string {
	var args []string
	if d.User != "" {
		args = append(args, "-l", d.User)
	}
	if d.Port != 0 {
		args = append(args, "-p", strconv.Itoa(d.Port))
	}
	return args
}

// settings asks `ssh -G` what d resolves to with our config.
func (s *SSH) settings(ctx context.Context, d stack.Destination) (sshSettings, error) {
	var st sshSettings
	args := append(append(s.optionArgs(), destArgs(d)...), "-G", "--", d.Host)
	out, err := exec.CommandContext(ctx, "ssh", args...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if abs, err := filepath.Abs(s.opts.Config); err == nil && s.opts.Config != "" {
			// The user's file, not the link our config includes it by.
			msg = strings.ReplaceAll(msg, filepath.Join(s.dir, "user_config"), abs)
		}
		return st, ui.WithFix(fmt.Errorf("%s: ssh cannot read its configuration: %s", s.name, msg), "fix the ssh config file it names")
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		switch strings.ToLower(k) {
		case "hostname":
			st.HostName = v
		case "port":
			st.Port, _ = strconv.Atoi(v)
		case "user":
			st.User = v
		case "userknownhostsfile":
			st.KnownHosts = strings.Fields(v)
		case "hostkeyalias":
			st.HostKeyAlias = v
		case "proxyjump":
			st.ProxyJump = v
		}
	}
	return st, nil
}

// startMaster opens the one connection of this host: `ssh -f -N -M` returns
// once it has authenticated, leaving the master in the background.
func (s *SSH) startMaster(ctx context.Context) error {
	logPath := filepath.Join(s.dir, "master.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := append(s.baseArgs(), "-M", "-f", "-N", "-o", "ControlPersist=300", "--", s.dest.Host)
	cmd := exec.CommandContext(ctx, "ssh", args...)
	// A file, not a pipe: the backgrounded master keeps its stderr open.
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = ownGroup()
	runErr := cmd.Run()
	if runErr == nil {
		return nil
	}
	msg, _ := os.ReadFile(logPath)
	if ctx.Err() != nil {
		return fmt.Errorf("%s: connecting was interrupted: %w", s.name, ctx.Err())
	}
	text := strings.TrimSpace(string(msg))
	if j := s.resolved.ProxyJump; j != "" && !strings.EqualFold(j, "none") {
		text = strings.TrimSpace(text + "\n" + s.jumpMessages(ctx))
	}
	return s.classify(ctx, text)
}

// classify turns what ssh printed when it could not connect into an error
// that names the host and the fix.
func (s *SSH) classify(ctx context.Context, msg string) error {
	if strings.Contains(msg, "REMOTE HOST IDENTIFICATION HAS CHANGED") || strings.Contains(msg, "Host key verification failed") || strings.Contains(msg, "host key is known") {
		return s.hostKeyError(ctx, msg)
	}
	r := s.resolved
	where := fmt.Sprintf("%s (%s, port %d)", s.name, r.HostName, r.Port)
	switch {
	case strings.Contains(msg, "Permission denied"):
		return ui.WithFix(fmt.Errorf("%s: the server refused user %q with the keys offered: %s", where, r.User, msg),
			fmt.Sprintf("check the user, and that your public key is in ~%s/.ssh/authorized_keys on the server (ssh-copy-id %s@%s); keys come from the ssh agent and IdentityFile", r.User, r.User, r.HostName))
	case strings.Contains(msg, "Could not resolve hostname"):
		return ui.WithFix(fmt.Errorf("%s: the host name does not resolve: %s", where, msg), "check the name, or add a Host entry with HostName to your ssh config")
	case strings.Contains(msg, "Connection refused"), strings.Contains(msg, "timed out"), strings.Contains(msg, "No route to host"),
		strings.Contains(msg, "Network is unreachable"), strings.Contains(msg, "Connection closed"), strings.Contains(msg, "Connection reset"):
		return ui.WithFix(fmt.Errorf("%s: unreachable: %s", where, msg), "check that the server is up and that sshd listens on that port (ssh -v "+s.name+")")
	}
	if msg == "" {
		msg = "ssh failed without a message"
	}
	return ui.WithFix(fmt.Errorf("%s: cannot connect: %s", where, msg), "try 'ssh -v "+s.name+"' to see why")
}

// hostKeyError is the error of a host key that is unknown or changed: the
// destination's, or a ProxyJump hop's when ssh names one (jump.go).
func (s *SSH) hostKeyError(ctx context.Context, msg string) error {
	r := s.resolved
	where := fmt.Sprintf("%s (%s, port %d)", s.name, r.HostName, r.Port)
	if hop, ok := s.failedHop(ctx, msg); ok {
		r = hop.st
		where = fmt.Sprintf("%s: the jump host %s (%s, port %d)", s.name, hop.name, r.HostName, r.Port)
	}
	addr := r.HostName
	if r.Port != 22 && r.Port != 0 {
		addr = fmt.Sprintf("[%s]:%d", r.HostName, r.Port)
	}
	known := "~/.ssh/known_hosts"
	if len(r.KnownHosts) > 0 {
		known = r.KnownHosts[0]
	}
	keyscan := fmt.Sprintf("ssh-keyscan -p %d -t ed25519 %s >> %s", r.Port, r.HostName, known)
	fp := fingerprints(ctx, r.HostName, r.Port)
	if strings.Contains(msg, "REMOTE HOST IDENTIFICATION HAS CHANGED") || strings.Contains(msg, "has changed and you have requested strict checking") {
		return ui.WithFix(fmt.Errorf("%s: the host key has CHANGED since it was trusted (now %s). Someone may be intercepting the connection; nothing was sent", where, fp),
			fmt.Sprintf("if the server was reinstalled, check the new key on its console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then replace it: ssh-keygen -R %s -f %s && %s", addr, known, keyscan))
	}
	return ui.WithFix(fmt.Errorf("%s: the host key is not known (the server offers %s); nothing was sent", where, fp),
		fmt.Sprintf("check the fingerprint on the server's console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then trust it: %s", keyscan))
}

// fingerprints asks the server at hostName:port for its host keys
// (ssh-keyscan sends nothing but the key exchange) and returns their
// SHA256 fingerprints, as ssh-keygen -l shows them.
func fingerprints(ctx context.Context, hostName string, port int) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ssh-keyscan", "-p", strconv.Itoa(port), "-t", "ed25519,ecdsa,rsa", "--", hostName).Output()
	if err != nil && len(out) == 0 {
		return "a key ssh-keyscan could not read"
	}
	var fps []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || strings.HasPrefix(line, "#") {
			continue
		}
		blob, err := base64.StdEncoding.DecodeString(f[2])
		if err != nil {
			continue
		}
		sum := sha256.Sum256(blob)
		typ := strings.ToUpper(strings.TrimPrefix(strings.TrimPrefix(f[1], "ssh-"), "ecdsa-sha2-"))
		fps = append(fps, typ+" key SHA256:"+base64.RawStdEncoding.EncodeToString(sum[:]))
	}
	if len(fps) == 0 {
		return "no key ssh-keyscan could read"
	}
	return strings.Join(fps, ", ")
}

func (s *SSH) checkSudo(ctx context.Context) error {
	out, err := Output(ctx, s, false, "sudo", "-n", "true")
	if err == nil {
		return nil
	}
	var ee *ExitError
	if !errors.As(err, &ee) {
		return err
	}
	out = strings.TrimSpace(out)
	if ee.Status == 127 || strings.Contains(out, "not found") {
		return ui.WithFix(fmt.Errorf("%s: %s is not root and sudo is not installed", s.name, s.resolved.User), "as root on the server: apt-get install sudo, and add the sudoers line "+sudoersLine(s.resolved.User))
	}
	return ui.WithFix(fmt.Errorf("%s: %s is not root and sudo asks for a password (%s)", s.name, s.resolved.User, out),
		fmt.Sprintf("allow it without one: run 'visudo -f /etc/sudoers.d/%s' on the server and add %s", s.resolved.User, sudoersLine(s.resolved.User)))
}

func sudoersLine(user string) string { return fmt.Sprintf("'%s ALL=(ALL) NOPASSWD: ALL'", user) }

// Run implements Host. The command line reaching the server is argv, each
// word quoted, after `sudo -n --` when Root is asked and the login user is
// not root.
func (s *SSH) Run(ctx context.Context, c Cmd) error {
	argv := c.Argv
	if c.Root && !s.root {
		argv = append([]string{"sudo", "-n", "--"}, argv...)
	}
	s.dropStaleSocket()
	args := s.baseArgs()
	args = append(args, "-o", "ControlMaster=no")
	if c.TTY {
		args = append(args, "-tt")
	} else {
		args = append(args, "-T")
	}
	line := Quote(argv...)
	var marker *markerWriter
	if !c.TTY {
		line = remoteLine(argv)
		marker = &markerWriter{w: orDiscard(c.Stderr)}
	}
	args = append(args, "--", s.dest.Host, line)
	cmd := exec.CommandContext(ctx, "ssh", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdin, c.Stdout, c.Stderr
	if marker != nil {
		if sameWriter(c.Stdout, c.Stderr) {
			cmd.Stdout = marker
		}
		cmd.Stderr = marker
	}
	if !c.TTY {
		// A command with a terminal stays in its group, to read from it.
		cmd.SysProcAttr = ownGroup()
	}
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	ran255 := false
	if marker != nil {
		ran255, _ = marker.close()
	}
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%s: interrupted: %w", s.name, ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		// 255 is OpenSSH's own failure, unless the command said it exited
		// so (status.go).
		if ee.ExitCode() == 255 && !ran255 && (marker != nil || !s.masterAlive()) {
			return fmt.Errorf("%s: the SSH connection failed while running %s", s.name, shortArgv(c.Argv))
		}
		return &ExitError{Host: s.name, Argv: c.Argv, Status: ee.ExitCode()}
	}
	return err
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// Close ends the connection.
func (s *SSH) Close() error {
	if s.dir == "" {
		return nil
	}
	args := append(s.baseArgs(), "-O", "exit", "--", s.dest.Host)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	exec.CommandContext(ctx, "ssh", args...).Run()
	err := os.RemoveAll(s.dir)
	s.dir = ""
	return err
}
