package deploy

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/hosttest"
)

// On a real server: R1, R2, R3, rollback (to R2), R4, rollback goes to R2,
// the release that ran before R4, not R3, the one rolled back as bad; the
// history survives in state.json between commands.
func TestHostRollbackFollowsHistory(t *testing.T) {
	t.Parallel()
	cl := hosttest.Start(t, "web1")
	web1 := cl.Host("web1")
	c := serverProject(t, "myapp", "go")
	o := hostOpts(c, dial(t, cl, "", "web1"), nil)
	current := func() string {
		t.Helper()
		list, err := ListReleases(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list[0].Releases {
			if r.Current {
				return r.ID
			}
		}
		return ""
	}
	rollback := func() {
		t.Helper()
		var out bytes.Buffer
		o.Out = &out
		if err := RollbackHosts(context.Background(), o, ""); err != nil {
			t.Fatalf("rollback: %v\n%s", err, out.String())
		}
	}
	ids := map[string]string{}
	for _, r := range []string{"R1", "R2", "R3"} {
		setHello(t, c, "Hello, "+r+"!")
		deployOK(t, o)
		ids[r] = current()
	}
	rollback()
	if got := current(); got != ids["R2"] {
		t.Fatalf("the first rollback went to %s, want R2 %s", got, ids["R2"])
	}
	setHello(t, c, "Hello, R4!")
	deployOK(t, o)
	rollback()
	if got := current(); got != ids["R2"] {
		t.Errorf("R1 R2 R3 rollback R4 rollback: current is %s, want R2 %s (R3 is %s)", got, ids["R2"], ids["R3"])
	}
	if _, body := getSite(t, web1.Addr, "/"); !strings.Contains(body, "Hello, R2!") {
		t.Errorf("after the last rollback nginx serves %q, want R2's page", body)
	}
	t.Logf("state.json:\n%s", cl.SSH(t, "web1", "cat /var/lib/stackctl/myapp/state.json"))
}
