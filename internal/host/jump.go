package host

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/stack"
)

// strictConfig comes first in the config every ssh of a host reads. ssh
// keeps the first value it obtains for each option, so nothing in the
// user's config, included after it, can loosen these; and ssh passes -F
// on to the ssh it starts for each ProxyJump hop (`ssh -F FILE -W
// '[%h]:%p' HOP`), which -o options are not: so every hop is checked as
// strictly as the destination. Hops never share a control master: ours
// is given on the command line, which only the destination's ssh reads.
const strictConfig = `# Written by stackctl for one connection; removed when it closes.
# These come first: ssh keeps the first value it reads for an option.
StrictHostKeyChecking yes
BatchMode yes
UpdateHostKeys no
PasswordAuthentication no
KbdInteractiveAuthentication no
ControlMaster no
ControlPath none
ServerAliveInterval 5
ServerAliveCountMax 3
LogLevel ERROR
`

// writeConfig writes the ssh config of this host (configPath): the strict
// options, then the user's config through Include — the --ssh-config or
// deploy.ssh_config file (through a link, so that no character of its
// path is read as a glob), or, as ssh does by default, ~/.ssh/config then
// /etc/ssh/ssh_config.
func (s *SSH) writeConfig() error {
	var b strings.Builder
	b.WriteString(strictConfig)
	fmt.Fprintf(&b, "ConnectTimeout %d\n", int(s.opts.ConnectTimeout/time.Second))
	if strings.ContainsAny(s.dir, "\"\\ \t") {
		return fmt.Errorf("the temporary folder %q has a space, a quote or a backslash, which ssh cannot read in its config: set TMPDIR to a plain path", s.dir)
	}
	if s.opts.Config != "" {
		abs, err := filepath.Abs(s.opts.Config)
		if err != nil {
			return err
		}
		link := filepath.Join(s.dir, "user_config")
		if err := os.Symlink(abs, link); err != nil {
			return err
		}
		fmt.Fprintf(&b, "Include %s\n", link)
	} else {
		b.WriteString("Include ~/.ssh/config\nInclude /etc/ssh/ssh_config\n")
	}
	return os.WriteFile(s.configPath(), []byte(b.String()), 0o600)
}

// jumpMessages connects again, without a control master, and returns what
// ssh and its hops printed. A master with ControlPersist sends the stderr
// of its ProxyJump hops to /dev/null (OpenSSH's sshconnect.c), so its log
// cannot say which hop failed, nor why. -N runs nothing on the server; a
// connection that succeeds this time is ended after the connect timeout.
func (s *SSH) jumpMessages(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, s.opts.ConnectTimeout+5*time.Second)
	defer cancel()
	logPath := filepath.Join(s.dir, "jump.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return ""
	}
	defer logf.Close()
	args := append(s.optionArgs(), "-o", "ControlPath=none", "-o", "ControlMaster=no", "-N")
	args = append(append(args, destArgs(s.dest)...), "--", s.dest.Host)
	cmd := exec.CommandContext(ctx, "ssh", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = ownGroup()
	cmd.WaitDelay = 2 * time.Second
	cmd.Run()
	out, _ := os.ReadFile(logPath)
	return string(out)
}

// hop is one ProxyJump hop on the way to a host.
type hop struct {
	name string // as ProxyJump names it
	st   sshSettings
}

// keyFailureRE finds the host whose key ssh could not check, in its
// messages "No ED25519 host key is known for NAME and ..." and "Host key
// for NAME has changed and ...".
var keyFailureRE = regexp.MustCompile(`(?:host key is known for|Host key for) (\S+) (?:and you|has changed)`)

// failedHop says which ProxyJump hop's key ssh refused, when msg names
// one that is not the destination.
func (s *SSH) failedHop(ctx context.Context, msg string) (hop, bool) {
	m := keyFailureRE.FindStringSubmatch(msg)
	if m == nil || m[1] == keyName(s.resolved) {
		return hop{}, false
	}
	var hops []hop
	s.collectHops(ctx, s.resolved.ProxyJump, 0, &hops)
	for _, h := range hops {
		if keyName(h.st) == m[1] {
			return h, true
		}
	}
	return hop{}, false
}

// collectHops appends the hops of a ProxyJump value, in the order ssh
// connects to them: the first hop's own hops, then the hops themselves.
func (s *SSH) collectHops(ctx context.Context, jump string, depth int, out *[]hop) {
	if jump == "" || strings.EqualFold(jump, "none") || depth > 8 {
		return
	}
	for i, j := range strings.Split(jump, ",") {
		d, err := stack.ParseDestination(strings.TrimPrefix(j, "ssh://"))
		if err != nil {
			continue
		}
		st, err := s.settings(ctx, d)
		if err != nil {
			continue
		}
		if i == 0 {
			s.collectHops(ctx, st.ProxyJump, depth+1, out)
		}
		*out = append(*out, hop{name: j, st: st})
	}
}

// keyName is the name ssh looks a host's key up under in known_hosts.
func keyName(st sshSettings) string {
	if st.HostKeyAlias != "" {
		return st.HostKeyAlias
	}
	if st.Port != 22 && st.Port != 0 {
		return fmt.Sprintf("[%s]:%d", st.HostName, st.Port)
	}
	return st.HostName
}
