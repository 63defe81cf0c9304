package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/hosttest"
	"github.com/stackctl/stackctl/internal/stack"
)

// notesRequest sends method path (with form values) to a host's nginx as
// notes.test and returns the JSON answer.
func notesRequest(t *testing.T, method, addr, path string, form url.Values) map[string]any {
	t.Helper()
	var out map[string]any
	if body := vhostRequest(t, method, addr, "notes.test", path, form); json.Unmarshal(body, &out) != nil {
		t.Fatalf("%s %s%s: not JSON: %.300s", method, addr, path, body)
	}
	return out
}

func noteTexts(t *testing.T, addr string) string {
	t.Helper()
	var texts []string
	for _, n := range notesRequest(t, "GET", addr, "/notes/", nil)["notes"].([]any) {
		texts = append(texts, n.(string))
	}
	return strings.Join(texts, ",")
}

// A Django project with models and migrations, its database from
// [services]: deploy installs Debian's PostgreSQL and Redis on the first
// app host with apt-get (from the test network's repository), makes the
// app's role, database and Redis user with generated passwords, and gives
// both app hosts DATABASE_URL and REDIS_URL; migrate runs as
// release_command after a backup. Rows written through either host's
// nginx are in the one database; db backup, then db restore brings back
// deleted rows; a deploy whose migration fails is refused with the old
// release serving and the backup taken before it kept; Redis counts
// visits across a redeploy. A host that is not an app host cannot log in
// to the database, and the passwords appear nowhere but in root-only
// files: not in any output, process list or world-readable file.
func TestServicesPostgresAndRedis(t *testing.T) {
	t.Parallel()
	dir := gitProject(t, "notes")
	c := stack.Default("notes", "django")
	c.App.WSGI = "site_conf.wsgi:application"
	c.App.Command = "python3 manage.py runserver 127.0.0.1:$PORT --noreload"
	c.App.Health = "/"
	c.Proxy.ServerNames = []string{"notes.test"}
	c.Proxy.Static = nil
	c.Deploy.ReleaseCommand = "python manage.py migrate --noinput"
	c.Services.Postgres.Enabled, c.Services.Redis.Enabled = true, true
	if err := c.Save(filepath.Join(dir, stack.FileName)); err != nil {
		t.Fatal(err)
	}
	c, err := stack.Load(filepath.Join(dir, stack.FileName))
	if err != nil {
		t.Fatal(err)
	}
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "stack.toml")
	cl := hosttest.Start(t, "web1", "web2", "other")
	hs := dial(t, cl, "", "web1", "web2")
	var all bytes.Buffer // every line deploy and the db commands printed
	o := hostOpts(c, hs, nil)
	o.HealthTimeout = time.Minute // gunicorn's workers import Django while apt-get runs beside
	web1, web2 := cl.Host("web1").Addr, cl.Host("web2").Addr
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := cl.TrySSH("web1", "journalctl --no-pager -n 40 -u 'postgresql*' -u redis-server -u 'notes*'; tail -n 20 /var/log/postgresql/*.log")
			t.Logf("web1:\n%s", out)
		}
	})

	out := deployOK(t, o)
	all.WriteString(out)
	for _, want := range []string{"installed postgresql", "installed redis-server", "DATABASE_URL set", "REDIS_URL set", "release_command"} {
		if !strings.Contains(out, want) {
			t.Errorf("the first deploy does not say %q:\n%s", want, out)
		}
	}
	// The first deploy backed up before its migrate; the daily backup is a
	// timer on the database's host, whose service takes one as db backup
	// does.
	cl.SSH(t, "web1", "systemctl is-enabled --quiet notes-db-backup.timer && systemctl start notes-db-backup.service")
	if list, err := ListBackups(context.Background(), o); err != nil || len(list) != 2 || !strings.Contains(list[0].Name, "-before-") || !strings.HasSuffix(list[1].Name, "-daily.dump") {
		t.Errorf("the daily backup's service made no backup: %+v %v", list, err)
	}
	st, err := Status(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if sv := st[0].Services; len(sv) != 2 || sv[0].Name != "postgres" || sv[0].State != "active" || sv[0].Version != "15" || sv[0].Size == 0 ||
		!strings.HasSuffix(sv[0].LastBackup, "-daily.dump") || sv[1].Name != "redis" || sv[1].State != "active" || !strings.HasPrefix(sv[1].Version, "7.") || len(st[1].Services) != 0 {
		t.Errorf("status of the services: web1 %+v, web2 %+v", st[0].Services, st[1].Services)
	}
	notesRequest(t, "POST", web1, "/notes/", url.Values{"text": {"one"}})
	notesRequest(t, "POST", web2, "/notes/", url.Values{"text": {"two"}})
	if got := noteTexts(t, web1); got != "one,two" {
		t.Fatalf("notes through web1 = %q, want one,two (both hosts write one database)", got)
	}
	notesRequest(t, "GET", web2, "/visits", nil)
	if v := notesRequest(t, "GET", web1, "/visits", nil)["visits"]; v != float64(2) {
		t.Errorf("visits = %v, want 2 (one Redis for both hosts)", v)
	}

	// db backup, rows deleted, db restore: the rows are back.
	o.Out = &all
	backup, err := BackupDB(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	notesRequest(t, "POST", web1, "/notes/clear", nil)
	if got := noteTexts(t, web2); got != "" {
		t.Fatalf("after clear: %q", got)
	}
	if err := RestoreDB(context.Background(), o, backup); err != nil {
		t.Fatalf("restore: %v\n%s", err, all.String())
	}
	if got := noteTexts(t, web2); got != "one,two" {
		t.Errorf("after db restore %s: notes = %q, want one,two", backup, got)
	}

	// A migration that fails: refused, the old release serves, and the
	// backup taken before it is there.
	before, err := ListBackups(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "notes", "migrations", "0002_broken.py")
	os.WriteFile(bad, []byte("from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n    dependencies = [(\"notes\", \"0001_initial\")]\n    operations = [migrations.RunSQL(\"ALTER TABLE no_such_table ADD COLUMN x int\")]\n"), 0o644)
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "broken migration")
	var failed bytes.Buffer
	o.Out = &failed
	err = DeployHosts(context.Background(), o)
	all.Write(failed.Bytes())
	if err == nil || !strings.Contains(err.Error(), "release_command") {
		t.Fatalf("a failing migration was deployed: %v\n%s", err, failed.String())
	}
	after, err := ListBackups(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before)+1 || !strings.Contains(after[len(after)-1].Name, "-before-") || !strings.Contains(failed.String(), after[len(after)-1].Name) {
		t.Errorf("no backup named before the failed migration: %+v\n%s", after, failed.String())
	}
	if got := noteTexts(t, web1); got != "one,two" {
		t.Errorf("after the refused deploy notes = %q", got)
	}
	os.Remove(bad)
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "fixed")
	o.Out = nil
	all.WriteString(deployOK(t, o))
	if v := notesRequest(t, "GET", web2, "/visits", nil)["visits"]; v != float64(3) {
		t.Errorf("visits after a redeploy = %v, want 3", v)
	}

	// A migration that runs but is bad (it deletes every note): rollback
	// --restore-db puts back the release and the database before it.
	r1 := st[0].Release
	os.WriteFile(filepath.Join(dir, "notes", "migrations", "0002_wipe.py"), []byte("from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n    dependencies = [(\"notes\", \"0001_initial\")]\n    operations = [migrations.RunSQL(\"DELETE FROM notes_note\")]\n"), 0o644)
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "wipe")
	all.WriteString(deployOK(t, o))
	if got := noteTexts(t, web1); got != "" {
		t.Fatalf("the wiping migration left %q", got)
	}
	o.Out = &all
	if err := RollbackWithDB(context.Background(), o, ""); err != nil {
		t.Fatalf("rollback --restore-db: %v\n%s", err, all.String())
	}
	if got := noteTexts(t, web2); got != "one,two" {
		t.Errorf("after rollback --restore-db: notes = %q, want one,two", got)
	}
	if st, err := Status(context.Background(), o); err != nil || st[0].Release != r1 || st[1].Release != r1 {
		t.Errorf("after rollback --restore-db the hosts run %+v (%v), want %s", st, err, r1)
	}

	// Only the app hosts log in: "other" has the password (as a thief
	// would) and psql still cannot.
	pass := strings.TrimSpace(cl.SSH(t, "web1", "cat /etc/stackctl/notes/postgres.password"))
	rpass := strings.TrimSpace(cl.SSH(t, "web1", "cat /etc/stackctl/notes/redis.password"))
	if len(pass) < 24 || len(rpass) < 24 || pass == rpass {
		t.Fatalf("weak or shared passwords: %d, %d characters", len(pass), len(rpass))
	}
	cl.SSH(t, "other", "DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-client >/dev/null")
	probe := `IFS= read -r pw; PGPASSWORD=$pw PGCONNECT_TIMEOUT=5 psql -h ` + web1 + ` -U notes -d notes -tAc 'select 1' 2>&1; echo "exit=$?"`
	cl.SSH(t, "web2", "command -v psql >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-client >/dev/null; }")
	if got, _ := cl.TrySSHInput("web2", probe, pass+"\n"); !strings.Contains(got, "exit=0") {
		t.Errorf("web2 (an app host) cannot reach the database: %s", got)
	}
	if got, _ := cl.TrySSHInput("other", probe, pass+"\n"); strings.Contains(got, "exit=0") || !strings.Contains(got, "no pg_hba.conf entry") {
		t.Errorf("a host that is not an app host logged in to the database: %s", got)
	}

	// The passwords: in root-only files, nowhere else.
	for _, p := range []string{pass, rpass} {
		if strings.Contains(all.String(), p) {
			t.Errorf("a password reached stackctl's output")
		}
		for _, h := range []string{"web1", "web2"} {
			leak, _ := cl.TrySSHInput(h, `p=$(cat); for f in /proc/[0-9]*/cmdline; do c=$(tr '\0' ' ' <"$f" 2>/dev/null) || continue; case $c in *"$p"*) echo "argv: ${c%% *}" ;; esac; done
journalctl --no-pager -o cat | grep -cF -- "$p" | grep -v '^0$' | sed 's/^/journal: /'
find / -xdev \( -path /proc -o -path /sys \) -prune -o -type f -perm -o=r -print 2>/dev/null | xargs -r grep -lF -- "$p" 2>/dev/null | sed 's/^/world-readable: /'
true`+"\n", p)
			if strings.TrimSpace(leak) != "" {
				t.Errorf("%s: a password is readable where it must not be:\n%s", h, leak)
			}
		}
	}
	if modes := cl.SSH(t, "web2", "stat -c '%a %U %n' /etc/stackctl/notes/services.env"); !strings.HasPrefix(modes, "600 root ") {
		t.Errorf("services.env: %s", modes)
	}
}
