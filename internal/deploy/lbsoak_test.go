package deploy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/hosttest"
)

// TestLBSoak is the long run of bench/lb-soak.sh, skipped unless
// STACKCTL_LB_SOAK is a duration ("3m"): the hello route (/healthz, "ok")
// at the full rate this machine sends, first to one app host directly,
// then through the lb (same client, same run); then through the lb for
// STACKCTL_LB_SOAK while rolling deploys, refused releases and rollbacks
// go by in turn. No request may fail, and the lb's error log must have no
// EADDRNOTAVAIL nor "no live upstreams"; the lb's ports in use and its
// nginx's RSS at the end are logged.
func TestLBSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("STACKCTL_LB_SOAK"))
	if err != nil || d <= 0 {
		t.Skip("the lb soak runs with STACKCTL_LB_SOAK=3m (bench/lb-soak.sh)")
	}
	clients := 16
	if n, err := fmt.Sscan(os.Getenv("STACKCTL_LB_SOAK_CLIENTS"), &clients); n != 1 || err != nil {
		clients = 16
	}
	cl, lb, c, o := lbCluster(t)
	deployOK(t, o)

	rate := func(what, addr string) float64 {
		l := hosttest.StartLoadPaced(t, addr, "app.test", "/healthz", clients, 0)
		time.Sleep(2 * time.Second)
		ok0, _ := l.Counts()
		time.Sleep(15 * time.Second)
		ok, failed, errs := l.Stop()
		r := float64(ok-ok0) / 15
		t.Logf("RESULT capacity %s: %.0f requests/s (%d clients, keep-alive; %d failed %v)", what, r, clients, failed, errs)
		return r
	}
	direct := rate("one app host directly", cl.Host("web1").Addr)
	via := rate("through the lb over 2 app hosts", lb)
	t.Logf("RESULT capacity ratio lb/direct: %.2f", via/direct)

	tw := sampleTimeWait(t, cl, "lb1")
	l := hosttest.StartLoadPaced(t, lb, "app.test", "/healthz", clients, 0)
	start := time.Now()
	var buf bytes.Buffer
	for cycle := 2; time.Since(start) < d; cycle++ {
		setEcho(t, c, fmt.Sprintf("v%d", cycle), "")
		deployOK(t, o)
		setEcho(t, c, fmt.Sprintf("v%d-bad", cycle), "web2")
		o.Out = &buf
		if err := DeployHosts(context.Background(), o); err == nil {
			t.Fatalf("a release unhealthy on web2 was deployed:\n%s", buf.String())
		}
		if err := RollbackHosts(context.Background(), o, ""); err != nil {
			t.Fatalf("rollback: %v\n%s", err, buf.String())
		}
		ok, failed := l.Counts()
		t.Logf("cycle %d (rolling, refused, rollback) done at %.0fs: %d answered, %d failed", cycle-1, time.Since(start).Seconds(), ok, failed)
	}
	ok, _ := l.Counts()
	secs := time.Since(start).Seconds()
	ports := cl.SSH(t, "lb1", "ss -s | sed -n 1,2p; echo to app hosts: $(ss -Htan '( dport = :80 )' | wc -l) sockets, $(ss -Htan state time-wait '( dport = :80 )' | wc -l) in TIME_WAIT; echo nginx RSS kB: $(ps -C nginx -o rss= | awk '{s+=$1} END {print s}')")
	l.Check(t, "soak through the lb")
	t.Logf("RESULT soak: %.0fs through the lb at %.0f requests/s; %s", secs, float64(ok)/secs, tw())
	t.Logf("RESULT lb at the end of the load:\n%s", strings.TrimSpace(ports))
	lbLogClean(t, cl)
}
