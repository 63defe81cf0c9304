package host

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Lines are split as OpenSSH's readconf.c splits them.
func TestSplitConfigLine(t *testing.T) {
	for _, tc := range []struct {
		line    string
		keyword string
		args    []string
	}{
		{"", "", nil},
		{"   # ProxyCommand evil", "", nil},
		{"HostName example.com", "HostName", []string{"example.com"}},
		{"  \tproxycommand   nc %h %p  ", "proxycommand", []string{"nc", "%h", "%p"}},
		{"ProxyCommand=nc %h %p", "ProxyCommand", []string{"nc", "%h", "%p"}},
		{"ProxyCommand = nc", "ProxyCommand", []string{"nc"}},
		{`"ProxyCommand" nc`, "ProxyCommand", []string{"nc"}},
		{`IdentityFile "/a b/key" # a comment`, "IdentityFile", []string{"/a b/key"}},
		{`Match exec "test -f x" host 'a b'`, "Match", []string{"exec", "test -f x", "host", "a b"}},
		{`User a\ b c\"d 'e\'f'`, "User", []string{"a b", `c"d`, "e'f"}},
		{`SendEnv A#notcomment B #comment`, "SendEnv", []string{"A#notcomment", "B"}},
		{"Host web1\r", "Host", []string{"web1"}},
	} {
		k, args, err := splitConfigLine(tc.line)
		if err != nil || k != tc.keyword || !reflect.DeepEqual(args, tc.args) {
			t.Errorf("%q: %q %q %v, want %q %q", tc.line, k, args, err, tc.keyword, tc.args)
		}
	}
	for _, bad := range []string{`ProxyCommand "nc`, `"ProxyCommand nc`, `Proxy"Command" nc`} {
		if _, _, err := splitConfigLine(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// A project's ssh config is refused, naming the file and the line, for
// each way ssh could run something on this machine, in any spelling;
// ordinary configs pass.
func TestCheckProjectSSHConfig(t *testing.T) {
	dir := t.TempDir()
	check := func(body string) error {
		p := filepath.Join(dir, "ssh_config")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return CheckProjectSSHConfig(p)
	}
	ok := `# The project's hosts
Host web1 web2
	HostName 203.0.113.10
	User deploy
	Port=2222
	IdentityFile ~/.ssh/id_ed25519
	UserKnownHostsFile ./known_hosts
	ProxyJump deploy@bastion:22,ssh://jump2
	ProxyCommand none
	KnownHostsCommand = none
	PermitLocalCommand no
	ForwardAgent no
	StrictHostKeyChecking no
Match host web1 user deploy !localuser root
	LogLevel ERROR
Match all
	# ProxyCommand nc %h %p (a comment)
	LocalForward 8080 127.0.0.1:80
Match final
`
	if err := check(ok); err != nil {
		t.Fatalf("an ordinary config: %v", err)
	}
	for _, tc := range []struct{ line, want string }{
		{"ProxyCommand nc %h %p", "ProxyCommand runs a command"},
		{"  proxycommand=nc %h %p", "ProxyCommand runs a command"},
		{`PROXYCOMMAND "none"x`, "ProxyCommand runs"},
		{`ProxyCommand "none"`, "ProxyCommand runs"},
		{"KnownHostsCommand=none;id", "KnownHostsCommand runs"},
		{`"ProxyCommand" sh -c id`, "ProxyCommand runs"},
		{"LocalCommand id", "LocalCommand runs"},
		{"PermitLocalCommand yes", "PermitLocalCommand lets"},
		{"permitlocalcommand=YES", "permitlocalcommand lets"},
		{"KnownHostsCommand /bin/sh -c id", "KnownHostsCommand runs"},
		{`Match exec "touch /tmp/pwned"`, "Match exec runs"},
		{`match host x EXEC true`, "Match exec runs"},
		{`Match !exec true`, "Match exec runs"},
		{`Match exec=true`, "Match exec runs"},
		{`Match host exec exec true`, "Match exec runs"},
		{`Match foo bar`, "not one stackctl knows"},
		{"Include ~/.ssh/other", "Include reads another file"},
		{"PKCS11Provider ./lib.so", "loads a library"},
		{"SmartcardDevice ./lib.so", "loads a library"},
		{"SecurityKeyProvider ./sk.so", "loads a library"},
		{"XAuthLocation ./xauth", "XAuthLocation names a program"},
		{"ForwardAgent yes", "this machine's ssh keys"},
		{"ForwardAgent /tmp/agent.sock", "this machine's ssh keys"},
		{"ForwardX11 yes", "display"},
		{"RemoteForward 9000 localhost:22", "RemoteForward"},
		{"ProxyJump a;touch${IFS}x", "ProxyJump hop"},
		{"ProxyJump ok,$(id)@b", "ProxyJump hop"},
		{"Proxy\"Command\" id", "a quote inside the keyword"},
		{"ProxyCommand 'nc", "a quote does not end"},
	} {
		err := check("Host web1\n\tHostName 10.0.0.1\n" + tc.line + "\n")
		if err == nil {
			t.Errorf("%q: accepted", tc.line)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "ssh_config:3:") || !strings.Contains(msg, "--ssh-config") {
			t.Errorf("%q: %s", tc.line, msg)
		}
	}
	if err := CheckProjectSSHConfig(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "deploy.ssh_config") {
		t.Errorf("a missing file: %v", err)
	}
}
