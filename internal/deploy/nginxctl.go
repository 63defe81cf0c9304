package deploy

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/kballard/go-shellquote"

	"github.com/stackctl/stackctl/internal/ui"
)

var nginxErrRE = regexp.MustCompile(` in (\S+):(\d+)`)

// nginxTest runs nginx -t on the whole configuration and, when nginx
// rejects it, names the failing line.
func (r *run) nginxTest(ctx context.Context) error {
	out, err := r.System.run(ctx, "", r.layout.Args("-t", "-q")...)
	if err == nil {
		return nil
	}
	msg := strings.TrimSpace(out)
	if m := nginxErrRE.FindStringSubmatch(out); m != nil {
		if n, _ := strconv.Atoi(m[2]); n > 0 {
			if data, rerr := os.ReadFile(m[1]); rerr == nil {
				lines := strings.Split(string(data), "\n")
				if n <= len(lines) {
					msg += fmt.Sprintf("\n  %s:%d: %s", m[1], n, strings.TrimSpace(lines[n-1]))
				}
			}
		}
	}
	return ui.WithFix(fmt.Errorf("nginx -t rejected the configuration:\n  %s", strings.ReplaceAll(msg, "\n", "\n  ")), "nothing changed: every file is restored and nginx keeps running the previous site")
}

// reloadArgv is how nginx is told to reread its configuration: systemd
// does not run the machines this engine deploys on, so nginx is signalled
// itself.
func (r *run) reloadArgv() []string {
	return r.layout.Args("-s", "reload")
}

func (r *run) reloadNginx(ctx context.Context) bool {
	argv := r.reloadArgv()
	if _, err := r.System.run(ctx, "", argv...); err != nil {
		r.warn("nginx was not reloaded (%v). The configuration passed nginx -t; start nginx with: %s", err, shellquote.Join(r.layout.Args()...))
		return false
	}
	r.say("%s %s", r.p.Green("reloaded:"), shellquote.Join(argv...))
	return true
}
