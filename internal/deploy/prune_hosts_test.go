package deploy

import (
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/hosttest"
)

// On a real server with keep_releases = 2: the deploy that prunes a
// release removes its backup and the temporary folders interrupted
// commands left, and keeps the backups of the releases it keeps and what
// is not stackctl's.
func TestHostPrunesBackupsAndTemps(t *testing.T) {
	t.Parallel()
	cl := hosttest.Start(t, "web1")
	c := serverProject(t, "myapp", "go")
	c.Deploy.KeepReleases = 2
	o := hostOpts(c, dial(t, cl, "", "web1"), nil)
	deployOK(t, o)
	r1 := strings.TrimPrefix(strings.TrimSpace(cl.SSH(t, "web1", "readlink /srv/myapp/current")), "releases/")
	setHello(t, c, "Hello, R2!")
	deployOK(t, o)
	r2 := strings.TrimPrefix(strings.TrimSpace(cl.SSH(t, "web1", "readlink /srv/myapp/current")), "releases/")
	// Backups of R1 and R2, as deploys that changed a system file leave
	// them (these two changed none), what killed commands leave, and what
	// is not stackctl's.
	cl.SSH(t, "web1", `cd /var/lib/stackctl/myapp && mkdir -p backups/`+r1+`/etc backups/`+r2+`/etc backups/notes .stage-1767225600000000000/x /srv/myapp/releases/.20260104T000000Z.tmp/bin &&
		touch backups/`+r1+`/etc/x backups/`+r2+`/etc/x backups/notes/keep /srv/myapp/releases/.20260104T000000Z.have`)
	setHello(t, c, "Hello, R3!")
	out := deployOK(t, o)
	if !strings.Contains(out, "pruned "+r1) || !strings.Contains(out, "removed 1 old backups and 3 temporary folders") {
		t.Errorf("the deploy that pruned %s does not say it removed its backup and the temporary folders:\n%s", r1, out)
	}
	ls := cl.SSH(t, "web1", "cd /var/lib/stackctl/myapp && ls -A . backups /srv/myapp/releases")
	for _, gone := range []string{r1 + "\n", ".stage-", ".tmp", ".have"} {
		if strings.Contains(ls, gone) {
			t.Errorf("%q is left:\n%s", gone, ls)
		}
	}
	for _, kept := range []string{r2, "notes"} {
		if !strings.Contains(ls, kept) {
			t.Errorf("%q was removed:\n%s", kept, ls)
		}
	}
}
