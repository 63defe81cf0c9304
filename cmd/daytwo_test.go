package cmd

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/deploy"
	"github.com/stackctl/stackctl/internal/hosttest"
	"github.com/stackctl/stackctl/internal/testutil"
	"github.com/stackctl/stackctl/internal/ui"
)

func randomToken(t *testing.T) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// appEnviron is the environment of the app's serving process on a host
// (/proc/PID/environ of the running slots' MainPID).
func appEnviron(t *testing.T, cl *hosttest.Cluster, name string) []string {
	t.Helper()
	out := cl.SSH(t, name, `for s in a b; do
	if systemctl is-active -q myapp@$s.service; then cat /proc/$(systemctl show -p MainPID --value myapp@$s.service)/environ; fi
done`)
	return strings.Split(out, "\x00")
}

func hasEnv(env []string, kv string) bool {
	for _, e := range env {
		if e == kv {
			return true
		}
	}
	return false
}

func hasKey(env []string, key string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, key+"=") {
			return true
		}
	}
	return false
}

// getThroughNginx asks a host's nginx for path with the site's Host.
func getThroughNginx(addr, path string) (int, error) {
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	req.Host = "app.test"
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// waitFor polls cond every 200ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Day two on two real servers, as a user types it: secrets set under load
// (0 failed requests) and found only in root-only files and the app's
// environment; exec as the app's user with them, its exit status passed
// through and Ctrl-C forwarded; logs with the app's request lines, merged
// and followed; status healthy, then unhealthy; a host failing mid change
// restores every host; unset; doctor --host; and every bad input refused
// with nothing changed.
func TestDayTwo(t *testing.T) {
	t.Parallel()
	cl := hosttest.Start(t, "web1", "web2")
	_, path := serverProject(t, cl, "web1", "web2")
	var outputs []string // everything stackctl printed, checked for secrets at the end
	var tokens []string  // in every secret set, checked for everywhere
	keys := []string{}   // the secrets' keys on every host, sorted
	// shIn runs stackctl with stdin (nil: empty, not a terminal).
	shIn := func(stdin io.Reader, args ...string) (int, string, string) {
		t.Helper()
		ios, _, out, errOut := ui.Test()
		if stdin != nil {
			ios.In = stdin
		}
		// --config goes right after the command's words: after -- it
		// would be exec's command.
		n := 1
		if args[0] == "env" && len(args) > 1 {
			n = 2
		}
		full := append(append(append([]string(nil), args[:n]...), "--config", path), args[n:]...)
		code := runRoot(t, ios, full...)
		outputs = append(outputs, out.String(), errOut.String())
		return code, out.String(), errOut.String()
	}
	sh := func(args ...string) (int, string, string) {
		t.Helper()
		return shIn(nil, args...)
	}
	// listed is what env list prints for these keys.
	listed := func(ks []string) string {
		var b strings.Builder
		for _, k := range ks {
			b.WriteString(k + "=••••••••\n")
		}
		return b.String()
	}
	if code, out, errOut := sh("deploy"); code != 0 {
		t.Fatalf("deploy: exit %d\n%s%s", code, out, errOut)
	}
	web1, web2 := cl.Host("web1"), cl.Host("web2")
	secretsOf := func(name string) string {
		return cl.SSH(t, name, "sha256sum /etc/stackctl/myapp.env 2>/dev/null || echo absent")
	}

	t.Run("bad input changes nothing", func(t *testing.T) {
		for _, c := range []struct {
			args  []string
			want  string
			stdin string
		}{
			{[]string{"env", "set"}, "at least one KEY", ""},
			{[]string{"env", "set", "OK=1", "SECRET_KEY"}, "SECRET_KEY: stdin is empty", ""},
			{[]string{"env", "set", "SECRET_KEY"}, "SECRET_KEY: stdin is empty", "\n"},
			{[]string{"env", "set", "SECRET_KEY", "API_TOKEN"}, "env set SECRET_KEY API_TOKEN: stdin holds one value", "hunter2\n"},
			{[]string{"env", "set", "SECRET_KEY"}, "the value holds a NUL byte", "hunt\x00er2\n"},
			{[]string{"env", "set", "9LIVES"}, "an argument without '=' is not an environment variable name", "hunter2\n"},
			{[]string{"env", "set", "PORT"}, "stackctl sets PORT itself", "hunter2\n"},
			{[]string{"env", "set", "9LIVES=hunter2"}, `"9LIVES" is not an environment variable name`, ""},
			{[]string{"env", "set", "BAD-KEY=hunter2"}, `"BAD-KEY" is not an environment variable name`, ""},
			{[]string{"env", "set", "NUL=hunt\x00er2"}, "NUL byte", ""},
			{[]string{"env", "set", "PORT=1"}, "stackctl sets PORT itself", ""},
			{[]string{"env", "unset", "SECRET_KEY=hunter2"}, "takes keys, not KEY=VALUE", ""},
			{[]string{"exec", "id"}, "stackctl exec [--host DEST] [--root] -- CMD", ""},
			{[]string{"exec", "ls", "-la"}, "stackctl exec [--host DEST] [--root] -- CMD", ""},
			{[]string{"exec", "--"}, "stackctl exec [--host DEST] [--root] -- CMD", ""},
			{[]string{"exec", "--host", "web1", "--host", "web2", "--", "id"}, "exec runs on one host", ""},
			{[]string{"logs", "-n", "-5"}, "negative", ""},
		} {
			code, out, errOut := shIn(strings.NewReader(c.stdin), c.args...)
			if code != 2 || !strings.Contains(errOut, c.want) {
				t.Errorf("stackctl %q: exit %d, stderr %q, want exit 2 and %q", c.args, code, errOut, c.want)
			}
			if strings.Contains(out+errOut, "hunter2") {
				t.Errorf("stackctl %q shows the value: %s%s", c.args, out, errOut)
			}
		}
		for _, h := range []string{"web1", "web2"} {
			if s := secretsOf(h); !strings.Contains(s, "absent") {
				t.Errorf("%s: bad input wrote the secrets file: %s", h, s)
			}
		}
	})

	tok1, tok2 := randomToken(t), randomToken(t)
	secret := "sk-" + tok1
	dbURL := "postgres://app:p\"a$s `w'd\\@db/app?x=1 " + tok2 + "\nsecond line"
	t.Run("set under load", func(t *testing.T) {
		l1 := hosttest.StartLoad(t, web1.Addr, "app.test", "/healthz", 3)
		l2 := hosttest.StartLoad(t, web2.Addr, "app.test", "/healthz", 3)
		code, out, errOut := sh("env", "set", "SECRET_KEY="+secret, "DATABASE_URL="+dbURL)
		l1.Check(t, "env set on web1")
		l2.Check(t, "env set on web2")
		if code != 0 {
			t.Fatalf("env set: exit %d\n%s%s", code, out, errOut)
		}
		if !strings.Contains(out, "set DATABASE_URL, SECRET_KEY") || !strings.Contains(out, "nginx → slot") {
			t.Errorf("env set should name the keys and switch slots:\n%s", out)
		}
		keys = append(keys, "DATABASE_URL", "SECRET_KEY")
		for _, h := range []string{"web1", "web2"} {
			env := appEnviron(t, cl, h)
			if !hasEnv(env, "SECRET_KEY="+secret) || !hasEnv(env, "DATABASE_URL="+dbURL) {
				t.Errorf("%s: the running app lacks the secrets (keys: %v)", h, keysOf(env))
			}
		}
	})

	tokens = append(tokens, tok1, tok2)

	// A value piped in (openssl rand … | stackctl env set KEY, or KEY <
	// file): all of stdin, one trailing newline removed, newlines kept.
	tok3 := randomToken(t)
	pem := "-----BEGIN PRIVATE KEY-----\nMIIEvQ" + tok3 + "\nkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
	t.Run("set from a pipe", func(t *testing.T) {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			pw.WriteString(pem + "\n")
			pw.Close()
		}()
		code, out, errOut := shIn(pr, "env", "set", "TLS_KEY")
		pr.Close()
		if code != 0 || !strings.Contains(out, "set TLS_KEY") {
			t.Fatalf("env set TLS_KEY < pipe: exit %d\n%s%s", code, out, errOut)
		}
		keys = append(keys, "TLS_KEY")
		for _, h := range []string{"web1", "web2"} {
			if env := appEnviron(t, cl, h); !hasEnv(env, "TLS_KEY="+pem) || !hasEnv(env, "SECRET_KEY="+secret) {
				t.Errorf("%s: the running app lacks the piped value or the earlier secrets (keys: %v)", h, keysOf(env))
			}
			file, err := deploy.ParseEnvFile([]byte(cl.SSH(t, h, "cat /etc/stackctl/myapp.env")))
			if err != nil || file["TLS_KEY"] != pem {
				t.Errorf("%s: the secrets file does not hold the piped value as sent (%v)", h, err)
			}
		}
	})
	tokens = append(tokens, tok3)

	// On a terminal: a hidden prompt.
	t.Run("set on a terminal", func(t *testing.T) {
		if envSetOnTerminal == nil {
			t.Skip("no pseudo-terminals on this system")
		}
		tok4 := randomToken(t)
		value := "tok-" + tok4
		tokens = append(tokens, tok4)
		outputs = append(outputs, envSetOnTerminal(t, path, "API_TOKEN", value))
		keys = append(keys, "API_TOKEN")
		for _, h := range []string{"web1", "web2"} {
			if env := appEnviron(t, cl, h); !hasEnv(env, "API_TOKEN="+value) || !hasEnv(env, "TLS_KEY="+pem) {
				t.Errorf("%s: the running app lacks the typed value (keys: %v)", h, keysOf(env))
			}
		}
	})
	slices.Sort(keys)

	t.Run("secrets only in root-only files", func(t *testing.T) {
		for _, h := range []string{"web1", "web2"} {
			// Not in any process's command line, unit or log.
			visible := cl.SSH(t, h, `ps -eo args; cat /etc/systemd/system/myapp@.service /etc/stackctl/myapp/*.env; ls -la /run/systemd/transient 2>/dev/null; cat /run/systemd/transient/* 2>/dev/null; journalctl --no-pager -o cat; cat /var/log/nginx/*.log 2>/dev/null; true`)
			for _, tok := range tokens {
				if strings.Contains(visible, tok) {
					t.Errorf("%s: a secret shows in ps, a unit, app.env or a log", h)
				}
			}
			// On disk: only in the secrets file, 0600 root:root.
			for _, tok := range tokens {
				files := strings.Fields(cl.SSH(t, h, "grep -rlsF -D skip -e "+tok+" /etc /var /srv /run /home /tmp /opt /usr/local; true"))
				if len(files) != 1 || files[0] != "/etc/stackctl/myapp.env" {
					t.Errorf("%s: a secret is in %v, want only /etc/stackctl/myapp.env", h, files)
				}
			}
			if st := strings.TrimSpace(cl.SSH(t, h, "stat -c '%a %U %G' /etc/stackctl/myapp.env")); st != "600 root root" {
				t.Errorf("%s: the secrets file is %s, want 600 root root", h, st)
			}
			if st := strings.TrimSpace(cl.SSH(t, h, "stat -c '%a %U' /etc/stackctl/myapp/app.env")); st != "600 root" {
				t.Errorf("%s: app.env is %s, want 600 root", h, st)
			}
		}
		if t.Failed() {
			diagnose(t, cl)
		}
		code, out, errOut := sh("env", "list")
		if code != 0 || out != listed(keys) {
			t.Errorf("env list: exit %d\n%s%s", code, out, errOut)
		}
		code, out, _ = sh("env", "list", "--json")
		var list []struct {
			Host string
			Keys []string
		}
		if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 || !slices.Equal(list[1].Keys, keys) {
			t.Errorf("env list --json: exit %d %s", code, out)
		}
		if code, out, errOut := sh("deploy", "--dry-run"); code != 0 {
			t.Errorf("deploy --dry-run: exit %d\n%s%s", code, out, errOut)
		}
	})

	t.Run("exec", func(t *testing.T) {
		code, out, errOut := sh("exec", "--", "sh", "-c", `id -un; pwd; printf %s "$DATABASE_URL" | sha256sum; echo to-stderr >&2; exit 3`)
		sum := sha256.Sum256([]byte(dbURL))
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 3 || len(lines) != 3 || lines[0] != "myapp" || !strings.HasPrefix(lines[1], "/srv/myapp/releases/") || !strings.HasPrefix(lines[2], hex.EncodeToString(sum[:])) {
			t.Errorf("exec: exit %d (want 3), stdout %q, stderr %q", code, out, errOut)
		}
		if !strings.Contains(errOut, "to-stderr") || strings.Contains(errOut, "error:") {
			t.Errorf("exec stderr = %q: want the command's stderr and no stackctl error", errOut)
		}
		code, out, errOut = sh("exec", "--host", "web2", "--root", "--", "id", "-un")
		if code != 0 || strings.TrimSpace(out) != "root" || !strings.Contains(errOut, "ROOT") {
			t.Errorf("exec --root: exit %d, stdout %q, stderr %q", code, out, errOut)
		}

		// Ctrl-C reaches the command (SIGINT to its unit), whose status
		// comes back.
		var stdout testutil.SyncBuffer
		ios := &ui.IOStreams{In: strings.NewReader(""), Out: &stdout, ErrOut: &stdout}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() {
			done <- runExec(ctx, &execOptions{IO: ios, Config: path, Argv: []string{"sh", "-c", `trap 'echo got-int; exit 130' INT; echo ready; sleep 60 & wait`}})
		}()
		waitFor(t, 2*time.Minute, "exec to start", func() bool { return strings.Contains(stdout.String(), "ready") })
		cancel()
		select {
		case err := <-done:
			var ee *ui.ExitError
			if !errors.As(err, &ee) || ee.Code != 130 || !strings.Contains(stdout.String(), "got-int") {
				t.Errorf("exec after Ctrl-C: %v, output %q; want exit 130 after got-int", err, stdout.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("exec did not end 30s after Ctrl-C")
		}
		outputs = append(outputs, stdout.String())
	})

	t.Run("exec on a terminal", func(t *testing.T) {
		if execOnTerminal == nil {
			t.Skip("no pseudo-terminals on this system")
		}
		outputs = append(outputs, execOnTerminal(t, path))
	})

	t.Run("logs", func(t *testing.T) {
		marker := "/logs-marker-" + randomToken(t)
		for _, h := range []*hosttest.Host{web1, web2} {
			if _, err := getThroughNginx(h.Addr, marker); err != nil {
				t.Fatal(err)
			}
		}
		var out string
		waitFor(t, 20*time.Second, "the request lines in stackctl logs", func() bool {
			_, out, _ = sh("logs", "-n", "200")
			return strings.Contains(out, "web1 | ") && strings.Contains(out, "web2 | ") && strings.Count(out, marker) == 2
		})
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, marker) && !strings.Contains(line, "myapp@") {
				t.Errorf("a log line lacks its unit: %q", line)
			}
		}
		if code, out, _ := sh("logs", "--since", "1h", "-n", "5"); code != 0 || strings.Count(out, "\n") > 10 {
			t.Errorf("logs --since 1h -n 5: exit %d, %d lines", code, strings.Count(out, "\n"))
		}

		// -f prints new lines until Ctrl-C, which ends it without error.
		var buf testutil.SyncBuffer
		ios := &ui.IOStreams{In: strings.NewReader(""), Out: &buf, ErrOut: &buf}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- runLogs(ctx, &logsOptions{IO: ios, Config: path, Follow: true, Lines: 0}) }()
		marker2 := "/follow-marker-" + randomToken(t)
		waitFor(t, 30*time.Second, "logs -f to show a new request", func() bool {
			getThroughNginx(web2.Addr, marker2)
			return strings.Contains(buf.String(), marker2)
		})
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("logs -f after Ctrl-C: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("logs -f did not end 15s after Ctrl-C")
		}
		outputs = append(outputs, buf.String())
	})

	t.Run("status", func(t *testing.T) {
		code, out, errOut := sh("status")
		if code != 0 || strings.Count(out, "✓ healthy") != 2 || !strings.Contains(out, "nginx    active") {
			t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
		}
		var list []struct {
			Host    string
			Release string
			Slot    string
			Healthy bool
			Health  int
		}
		code, out, _ = sh("status", "--json")
		if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 || !list[1].Healthy || list[1].Release == "" || list[1].Health != 200 {
			t.Fatalf("status --json: exit %d\n%s", code, out)
		}
		unit := "myapp@" + list[1].Slot + ".service"
		cl.SSH(t, "web2", "systemctl stop "+unit)
		code, out, _ = sh("status")
		if code != 1 || !strings.Contains(out, "✗ unhealthy") || !strings.Contains(out, "→ 502") || !strings.Contains(out, "slot "+list[1].Slot+" (serving) is inactive") {
			t.Errorf("status with web2's app stopped: exit %d\n%s", code, out)
		}
		cl.SSH(t, "web2", "systemctl start "+unit)
		waitFor(t, 30*time.Second, "web2 healthy again", func() bool { code, _, _ := sh("status"); return code == 0 })
	})

	t.Run("a host failing restores every host", func(t *testing.T) {
		before1, before2 := secretsOf("web1"), secretsOf("web2")
		bin := "/srv/myapp/current/bin/myapp"
		mode := strings.TrimSpace(cl.SSH(t, "web2", "stat -c %a "+bin))
		cl.SSH(t, "web2", "chmod 000 "+bin)
		l2 := hosttest.StartLoad(t, web2.Addr, "app.test", "/healthz", 2)
		code, out, errOut := sh("env", "set", "EXTRA=will-not-stay")
		l2.Check(t, "failed env set on web2")
		cl.SSH(t, "web2", "chmod "+mode+" "+bin)
		if code != 1 || !strings.Contains(out, "the old secrets are back") {
			t.Errorf("env set with web2 failing: exit %d\n%s%s", code, out, errOut)
			diagnose(t, cl)
		}
		if !strings.Contains(errOut, "web2:") {
			// The test hosts' systemd (cgroup v1 in nspawn) has been seen
			// failing a slot's start with 219/CGROUP on the other host
			// first; the restore below must hold all the same.
			t.Logf("env set failed on another host than web2:\n%s", errOut)
			diagnose(t, cl)
		}
		if a, b := secretsOf("web1"), secretsOf("web2"); a != before1 || b != before2 {
			t.Errorf("the secrets files changed: web1 %s → %s, web2 %s → %s", before1, a, before2, b)
		}
		for _, h := range []string{"web1", "web2"} {
			if env := appEnviron(t, cl, h); hasKey(env, "EXTRA") || !hasEnv(env, "SECRET_KEY="+secret) {
				t.Errorf("%s: the app runs with %v after the restore", h, keysOf(env))
			}
		}
		if code, out, errOut := sh("status"); code != 0 {
			t.Errorf("status after the restore: exit %d\n%s%s", code, out, errOut)
		}
	})

	t.Run("unset", func(t *testing.T) {
		if code, out, errOut := sh("env", "unset", "DATABASE_URL"); code != 0 {
			t.Fatalf("env unset: exit %d\n%s%s", code, out, errOut)
		}
		keys = slices.DeleteFunc(keys, func(k string) bool { return k == "DATABASE_URL" })
		if _, out, _ := sh("env", "list"); out != listed(keys) {
			t.Errorf("env list after unset = %q", out)
		}
		for _, h := range []string{"web1", "web2"} {
			if env := appEnviron(t, cl, h); hasKey(env, "DATABASE_URL") || !hasKey(env, "SECRET_KEY") {
				t.Errorf("%s: after unset the app runs with %v", h, keysOf(env))
			}
		}
		if code, out, _ := sh("env", "unset", "DATABASE_URL"); code != 0 || !strings.Contains(out, "No changes") {
			t.Errorf("unset of an absent key: exit %d\n%s", code, out)
		}
	})

	// A lock left by a command killed on another machine: every command is
	// refused naming it; unlock lists it, needs --yes off a terminal, and
	// removes it; a lock whose command runs on this machine is refused.
	t.Run("unlock", func(t *testing.T) {
		lock := "/var/lib/stackctl/myapp/lock"
		cl.SSH(t, "web2", "mkdir "+lock+` && echo '{"by":"carol@other-laptop","since":"2026-12-01T09:00:00Z","command":"deploy","pid":4242}' >`+lock+"/info")
		if code, out, errOut := sh("deploy"); code == 0 || !strings.Contains(out+errOut, "carol@other-laptop holds the deploy lock") || !strings.Contains(out+errOut, "stackctl unlock") {
			t.Errorf("deploy with carol's lock: exit %d\n%s%s", code, out, errOut)
		}
		code, out, errOut := sh("unlock")
		if code != 2 || !strings.Contains(out, "web2  locked by carol@other-laptop since 2026-12-01T09:00:00Z (deploy, pid 4242)") || !strings.Contains(errOut, "--yes") {
			t.Errorf("unlock off a terminal: exit %d\n%s%s", code, out, errOut)
		}
		if code, out, errOut := sh("unlock", "--yes"); code != 0 || !strings.Contains(out, "removed 1 lock(s)") {
			t.Errorf("unlock --yes: exit %d\n%s%s", code, out, errOut)
		}
		if code, out, errOut := sh("unlock"); code != 0 || !strings.Contains(out, "no deploy lock on any host") {
			t.Errorf("unlock with no lock: exit %d\n%s%s", code, out, errOut)
		}
		if code, out, errOut := sh("deploy"); code != 0 {
			t.Errorf("deploy after unlock: exit %d\n%s%s", code, out, errOut)
		}
		hn, _ := os.Hostname()
		cl.SSH(t, "web1", "mkdir "+lock+` && echo '{"by":"me@`+hn+`","command":"deploy","pid":`+strconv.Itoa(os.Getpid())+`}' >`+lock+"/info")
		if code, out, errOut := sh("unlock", "--yes"); code == 0 || !strings.Contains(errOut, "still runs on this machine") {
			t.Errorf("unlock of a live local holder: exit %d\n%s%s", code, out, errOut)
		}
		if got := cl.SSH(t, "web1", "test -d "+lock+" && echo kept"); strings.TrimSpace(got) != "kept" {
			t.Errorf("a refused unlock removed the lock")
		}
		cl.SSH(t, "web1", "rm -r "+lock)
	})

	t.Run("doctor --host", func(t *testing.T) {
		if code, out, errOut := sh("doctor", "--host", "web1"); code != 0 || !strings.Contains(out, "nginx 1.") || !strings.Contains(out, "Everything is ready") {
			t.Errorf("doctor --host web1: exit %d\n%s%s", code, out, errOut)
		}
		cl.SSH(t, "web2", "mv /usr/sbin/nginx /usr/sbin/nginx.away")
		defer cl.SSH(t, "web2", "mv /usr/sbin/nginx.away /usr/sbin/nginx")
		code, out, _ := sh("doctor", "--host", "web2", "--json")
		var reports []struct {
			Host   string
			OK     bool
			Checks []struct{ Name, Status, Fix string }
		}
		if code != 1 || json.Unmarshal([]byte(out), &reports) != nil || len(reports) != 1 || reports[0].OK || reports[0].Host != "web2" {
			t.Fatalf("doctor --host web2 without nginx: exit %d\n%s", code, out)
		}
		found := false
		for _, c := range reports[0].Checks {
			if c.Name == "nginx" && c.Status == "fail" && strings.Contains(c.Fix, "apt-get install nginx") {
				found = true
			}
		}
		if !found {
			t.Errorf("doctor --json lacks the nginx miss and its fix:\n%s", out)
		}
		if code, out, _ := sh("doctor", "--host", "nobody@web1"); code != 1 || !strings.Contains(out, "refused user") {
			t.Errorf("doctor --host nobody@web1: exit %d\n%s", code, out)
		}
	})

	for _, o := range outputs {
		for _, tok := range tokens {
			if strings.Contains(o, tok) {
				t.Errorf("stackctl printed a secret:\n%s", o)
			}
		}
	}
}

// diagnose logs what the hosts' systemd says, for a failure that is not
// stackctl's own (seen once: a host whose systemd had stopped
// systemd-user-sessions, so every login said "System is booting up").
func diagnose(t *testing.T, cl *hosttest.Cluster) {
	t.Helper()
	for _, h := range cl.Hosts {
		out, _ := cl.TrySSH(h.Name, "uptime; systemctl is-system-running; ls -l /run/nologin; systemctl list-jobs --no-pager; journalctl -b --no-pager -n 80")
		t.Logf("%s:\n%s", h.Name, out)
		if data, err := os.ReadFile(filepath.Join(cl.Dir, h.Name+".log")); err == nil {
			t.Logf("%s console (tail):\n%s", h.Name, tailString(string(data), 3000))
		}
	}
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// execOnTerminal runs exec on a pseudo-terminal (daytwo_pty_test.go, unix).
var execOnTerminal func(t *testing.T, path string) string

// envSetOnTerminal runs `env set KEY` on a pseudo-terminal and types
// value at its prompt; it returns what the terminal showed
// (daytwo_pty_test.go, unix).
var envSetOnTerminal func(t *testing.T, path, key, value string) string

func keysOf(env []string) []string {
	var keys []string
	for _, e := range env {
		if k, _, ok := strings.Cut(e, "="); ok {
			keys = append(keys, k)
		}
	}
	return keys
}
