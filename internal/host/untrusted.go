package host

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/stackctl/stackctl/internal/ui"
)

// CheckProjectSSHConfig reads an ssh_config file that came with a project
// (deploy.ssh_config in stack.toml, which a cloned repository controls)
// and refuses any line with which ssh would run a program or load code on
// this machine, or hand a server this machine's keys, display or ports:
// ProxyCommand, LocalCommand, PermitLocalCommand yes, KnownHostsCommand,
// Match exec, Include, PKCS11Provider (SmartcardDevice),
// SecurityKeyProvider, XAuthLocation, ForwardAgent, ForwardX11,
// RemoteForward, and a ProxyJump that is not plain [user@]host[:port]
// hops (ssh runs it through the shell). The error names the file, the
// line and the fix. A file the user names (--ssh-config, ~/.ssh/config) is
// not checked: it is theirs.
func CheckProjectSSHConfig(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return ui.WithFix(fmt.Errorf("deploy.ssh_config: %w", err), "name an existing file in stack.toml, relative to the project")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		keyword, args, err := splitConfigLine(sc.Text())
		if err == nil {
			err = untrustedLine(keyword, args, rawArgs(sc.Text()))
		}
		if err != nil {
			return ui.WithFix(fmt.Errorf("deploy.ssh_config %s:%d: %v; an ssh config that comes with the project may not run anything on this machine", path, n, err),
				"remove the line; or, if you wrote this file and trust it, pass it yourself with --ssh-config "+path+" (or put the lines in ~/.ssh/config), which are not checked")
		}
	}
	return sc.Err()
}

var (
	// safeHopRE is one ProxyJump hop with nothing a shell could read.
	safeHopRE   = regexp.MustCompile(`^(ssh://)?([A-Za-z0-9_][A-Za-z0-9_.-]*@)?([A-Za-z0-9_][A-Za-z0-9_.-]*|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$`)
	keywordRE   = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	noArgMatch  = map[string]bool{"all": true, "canonical": true, "final": true}
	oneArgMatch = map[string]bool{"host": true, "originalhost": true, "user": true, "localuser": true, "localnetwork": true, "tagged": true}
)

// rawArgs is what follows the keyword, as ProxyCommand and
// KnownHostsCommand take it: the rest of the line, quotes and all.
func rawArgs(line string) string {
	s := strings.TrimSpace(line)
	if i := strings.IndexAny(s, " \t="); i >= 0 {
		return strings.Trim(s[i:], " \t=\r\f")
	}
	return ""
}

// untrustedLine says why a line (its keyword and arguments, as ssh reads
// them, and raw, the rest of the line) is not allowed in a project's ssh
// config; nil if it is.
func untrustedLine(keyword string, args []string, raw string) error {
	if keyword == "" {
		return nil
	}
	if !keywordRE.MatchString(keyword) {
		return fmt.Errorf("%q is not an ssh_config keyword stackctl can read", keyword)
	}
	k := strings.ToLower(keyword)
	first := ""
	if len(args) > 0 {
		first = args[0]
	}
	only := func(allowed string, what string) error {
		if len(args) == 1 && strings.EqualFold(first, allowed) {
			return nil
		}
		return fmt.Errorf("%s %s", keyword, what)
	}
	switch k {
	case "proxycommand":
		if raw == "none" {
			return nil
		}
		return fmt.Errorf("ProxyCommand runs a command on this machine")
	case "localcommand":
		return fmt.Errorf("LocalCommand runs a command on this machine")
	case "permitlocalcommand":
		return only("no", "lets LocalCommand run a command on this machine")
	case "knownhostscommand":
		if raw == "none" {
			return nil
		}
		return fmt.Errorf("KnownHostsCommand runs a command on this machine")
	case "pkcs11provider", "smartcarddevice":
		return only("none", "loads a library into ssh on this machine")
	case "securitykeyprovider":
		return only("internal", "loads a library into ssh on this machine")
	case "xauthlocation":
		return fmt.Errorf("XAuthLocation names a program ssh runs on this machine")
	case "include":
		return fmt.Errorf("Include reads another file, which stackctl does not check; copy its lines here instead")
	case "forwardagent":
		return only("no", "gives the server the use of this machine's ssh keys")
	case "forwardx11", "forwardx11trusted":
		return only("no", "gives the server this machine's display")
	case "remoteforward":
		return fmt.Errorf("RemoteForward lets the server reach this machine's network")
	case "proxyjump":
		return checkProxyJump(args)
	case "match":
		return checkMatch(args)
	}
	return nil
}

// checkProxyJump allows "none" or hops of [ssh://][user@]host[:port]:
// ssh builds a shell command of them.
func checkProxyJump(args []string) error {
	if len(args) == 1 && args[0] == "none" {
		return nil
	}
	if len(args) != 1 {
		return fmt.Errorf("ProxyJump takes one value, hops separated by commas")
	}
	for _, h := range strings.Split(args[0], ",") {
		if !safeHopRE.MatchString(h) {
			return fmt.Errorf("ProxyJump hop %q is not [user@]host[:port] (ssh runs the hops through the shell)", h)
		}
	}
	return nil
}

// checkMatch refuses a Match line with an exec criterion (also negated,
// !exec), and one whose criteria stackctl does not know, rather than
// guess where an exec hides.
func checkMatch(args []string) error {
	for i := 0; i < len(args); i++ {
		name, _, hasArg := strings.Cut(strings.ToLower(strings.TrimPrefix(args[i], "!")), "=")
		switch {
		case name == "exec":
			return fmt.Errorf("Match exec runs a command on this machine")
		case noArgMatch[name]:
		case oneArgMatch[name]:
			if !hasArg {
				i++
			}
		default:
			return fmt.Errorf("Match criterion %q is not one stackctl knows (all, canonical, final, host, originalhost, user, localuser, localnetwork, tagged)", args[i])
		}
	}
	return nil
}

// splitConfigLine splits a line of ssh_config as OpenSSH's readconf.c
// does: leading and trailing blanks dropped, a line whose first word
// starts with '#' is a comment, the keyword ends at a blank or '=' (one
// '=' may separate it from the arguments, with blanks around), and the
// arguments are words with "double" or 'single' quotes, backslash escapes
// of blanks, quotes and backslashes, and a '#' starting a word ends them.
func splitConfigLine(line string) (keyword string, args []string, err error) {
	s := strings.TrimLeft(strings.TrimRight(line, " \t\r\n\f"), " \t\r\n\f")
	if s == "" || s[0] == '#' {
		return "", nil, nil
	}
	if s[0] == '"' {
		end := strings.IndexByte(s[1:], '"')
		if end < 0 {
			return "", nil, errors.New("the quote that starts the line does not end")
		}
		keyword, s = s[1:end+1], s[end+2:]
	} else {
		end := strings.IndexAny(s, " \t\f=\"")
		if end < 0 {
			end = len(s)
		}
		if end < len(s) && s[end] == '"' {
			// ssh would drop the quote and read on: Proxy"Command".
			return "", nil, errors.New("a quote inside the keyword")
		}
		keyword, s = s[:end], s[end:]
	}
	s = strings.TrimLeft(s, " \t\f")
	if strings.HasPrefix(s, "=") {
		s = strings.TrimLeft(s[1:], " \t\f")
	}
	args, err = splitWords(s)
	return keyword, args, err
}

// splitWords is OpenSSH's argv_split (misc.c) with comments ending the
// line: words split at blanks, "double" or 'single' quotes, a backslash
// escaping a quote, a backslash, or (outside quotes) a blank.
func splitWords(s string) ([]string, error) {
	var args []string
	i := 0
	for i < len(s) {
		if s[i] == ' ' || s[i] == '\t' {
			i++
			continue
		}
		if s[i] == '#' {
			break
		}
		var w strings.Builder
		var quote byte
	word:
		for ; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '\\' && i+1 < len(s) && (strings.IndexByte("'\"\\", s[i+1]) >= 0 || quote == 0 && s[i+1] == ' '):
				i++
				w.WriteByte(s[i])
			case quote == 0 && (c == ' ' || c == '\t'):
				break word
			case quote == 0 && (c == '"' || c == '\''):
				quote = c
			case quote != 0 && c == quote:
				quote = 0
			default:
				w.WriteByte(c)
			}
		}
		if quote != 0 {
			return nil, errors.New("a quote does not end")
		}
		args = append(args, w.String())
	}
	return args, nil
}
