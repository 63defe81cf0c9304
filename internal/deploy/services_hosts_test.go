package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/host"
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
// [services] on a host of its own, db1, beside two app hosts behind an lb:
// deploy installs Debian's PostgreSQL and Redis on db1 with apt-get (from
// the test network's repository), makes the app's role, database and
// Redis user with generated passwords, and gives both app hosts
// DATABASE_URL and REDIS_URL with db1's address; migrate runs as
// release_command after a backup on db1. Rows written through either host's
// nginx are in the one database; db backup, then db restore brings back
// deleted rows; a deploy whose migration fails is refused with the old
// release serving and the backup taken before it kept; Redis counts
// visits across a redeploy. A host that is not an app host (lb1) cannot
// log in to the database or Redis, and the passwords appear nowhere but in
// root-only files: not in any output, process list or world-readable file.
// A second app, a Flask counter of visits in Redis, shares db1's
// PostgreSQL and Redis with users of its own; its count survives a
// redeploy.
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
	c.Deploy.Hosts, c.Deploy.LB = []string{"web1", "web2"}, "lb1"
	c.Services.Postgres = stack.Service{Enabled: true, Host: "db1"}
	c.Services.Redis = stack.Service{Enabled: true, Host: "db1"}
	if err := c.Save(filepath.Join(dir, stack.FileName)); err != nil {
		t.Fatal(err)
	}
	c, err := stack.Load(filepath.Join(dir, stack.FileName))
	if err != nil {
		t.Fatal(err)
	}
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "stack.toml")
	cl := hosttest.Start(t, "web1", "web2", "lb1", "db1")
	hs := dial(t, cl, "", "web1", "web2", "lb1", "db1")
	var all bytes.Buffer // every line deploy and the db commands printed
	o := hostOpts(c, hs[:2], nil)
	o.LB, o.ServiceHosts = hs[2], map[string]host.Host{"db1": hs[3]}
	o.HealthTimeout = time.Minute // gunicorn's workers import Django while apt-get runs beside
	web1, web2, lb1, db1 := cl.Host("web1").Addr, cl.Host("web2").Addr, cl.Host("lb1").Addr, cl.Host("db1").Addr
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := cl.TrySSH("db1", "journalctl --no-pager -n 40 -u 'postgresql*' -u redis-server; tail -n 20 /var/log/postgresql/*.log")
			t.Logf("db1:\n%s", out)
			out, _ = cl.TrySSH("web1", "journalctl --no-pager -n 40 -u 'notes*' -u 'counter*'")
			t.Logf("web1:\n%s", out)
		}
	})

	out := deployOK(t, o)
	all.WriteString(out)
	if !regexp.MustCompile(`db1\S* +✓ postgres 15: installed postgresql`).MatchString(out) || !regexp.MustCompile(`db1\S* +✓ redis 7[0-9.]*: installed redis-server`).MatchString(out) {
		t.Errorf("the first deploy does not say it installed the services on db1:\n%s", out)
	}
	for _, want := range []string{"installed postgresql", "installed redis-server", "DATABASE_URL set", "REDIS_URL set", "release_command"} {
		if !strings.Contains(out, want) {
			t.Errorf("the first deploy does not say %q:\n%s", want, out)
		}
	}
	// The first deploy backed up before its migrate; the daily backup is a
	// timer on the database's host, whose service takes one as db backup
	// does.
	cl.SSH(t, "db1", "systemctl is-enabled --quiet notes-db-backup.timer && systemctl start notes-db-backup.service")
	if out := cl.SSH(t, "web1", "systemctl list-unit-files --no-legend 'notes-db-backup*' 'postgresql*' 'redis*'; ls /etc/stackctl/notes/"); strings.Contains(out, "db-backup") || strings.Contains(out, "postgres") || strings.Contains(out, "redis") {
		t.Errorf("an app host got the services' units or passwords:\n%s", out)
	}
	if list, err := ListBackups(context.Background(), o); err != nil || len(list) != 2 || list[0].Host != "db1" || !strings.Contains(list[0].Name, "-before-") || !strings.HasSuffix(list[1].Name, "-daily.dump") {
		t.Errorf("the daily backup's service made no backup: %+v %v", list, err)
	}
	st, err := Status(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 4 || st[3].Host != "db1" || st[3].Role != "services" || !st[3].Healthy {
		t.Fatalf("status: %+v", st)
	}
	if sv := st[3].Services; len(sv) != 2 || sv[0].Name != "postgres" || sv[0].State != "active" || sv[0].Version != "15" || sv[0].Size == 0 ||
		!strings.HasSuffix(sv[0].LastBackup, "-daily.dump") || sv[1].Name != "redis" || sv[1].State != "active" || !strings.HasPrefix(sv[1].Version, "7.") || len(st[0].Services)+len(st[1].Services) != 0 {
		t.Errorf("status of the services: db1 %+v, web1 %+v, web2 %+v", st[3].Services, st[0].Services, st[1].Services)
	}
	// What doctor --host db1 checks (cmd's TestSetupBehindLB runs it):
	// both running, listening on 127.0.0.1 and db1's address only, the
	// app's role and user made, a fresh backup and the daily timer on.
	facts, err := ProbeServices(context.Background(), hs[3], c, true, true)
	if err != nil || len(facts) != 2 {
		t.Fatalf("services' facts on db1: %+v %v", facts, err)
	}
	for _, f := range facts {
		listen := strings.Join(f.Listen, " ")
		if !f.Installed || f.State != "active" || !f.User || !strings.Contains(listen, "127.0.0.1") || !strings.Contains(listen, db1) ||
			strings.Contains(listen, "0.0.0.0") || strings.Contains(listen, "*") {
			t.Errorf("doctor's facts of %s on db1: %+v", f.Name, f)
		}
		if f.Name == "postgres" && (f.BackupAge < 0 || f.BackupAge > time.Hour || f.Timer != "enabled" || f.Unit != "postgresql@15-main.service") {
			t.Errorf("doctor's facts of the backups on db1: %+v", f)
		}
	}
	notesRequest(t, "POST", web1, "/notes/", url.Values{"text": {"one"}})
	notesRequest(t, "POST", web2, "/notes/", url.Values{"text": {"two"}})
	if got := noteTexts(t, lb1); got != "one,two" {
		t.Fatalf("notes through the lb = %q, want one,two (both hosts write one database)", got)
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
	// db pull copies the dump from db1; db shell runs psql there as the
	// app's role.
	if name, data, err := PullBackup(context.Background(), o, backup); err != nil || name != backup || !bytes.HasPrefix(data, []byte("PGDMP")) {
		t.Errorf("db pull %s: %q, %d bytes %.5q, %v", backup, name, len(data), data, err)
	}
	var psqlOut bytes.Buffer
	if err := DBShell(context.Background(), ExecOptions{HostsOptions: o, Stdin: strings.NewReader("SELECT current_user || ':' || count(*) FROM notes_note;\n"), Stdout: &psqlOut, Stderr: &psqlOut}); err != nil || !strings.Contains(psqlOut.String(), "notes:2") {
		t.Errorf("db shell on db1: %v\n%s", err, psqlOut.String())
	}
	all.Write(psqlOut.Bytes())

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

	// Only the app hosts log in: lb1 has the password (as a thief would)
	// and psql still cannot; Redis wants a user and its password (setup's
	// firewall closes 6379 to lb1 too: cmd's TestSetupBehindLB).
	pass := strings.TrimSpace(cl.SSH(t, "db1", "cat /etc/stackctl/notes/postgres.password"))
	rpass := strings.TrimSpace(cl.SSH(t, "db1", "cat /etc/stackctl/notes/redis.password"))
	if len(pass) < 24 || len(rpass) < 24 || pass == rpass {
		t.Fatalf("weak or shared passwords: %d, %d characters", len(pass), len(rpass))
	}
	for _, h := range []string{"web2", "lb1"} {
		cl.SSH(t, h, "DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql-client redis-tools >/dev/null")
	}
	probe := `IFS= read -r pw; PGPASSWORD=$pw PGCONNECT_TIMEOUT=5 psql -h ` + db1 + ` -U notes -d notes -tAc 'select 1' 2>&1; echo "exit=$?"`
	if got, _ := cl.TrySSHInput("web2", probe, pass+"\n"); !strings.Contains(got, "exit=0") {
		t.Errorf("web2 (an app host) cannot reach the database on db1: %s", got)
	}
	if got, _ := cl.TrySSHInput("lb1", probe, pass+"\n"); strings.Contains(got, "exit=0") || !strings.Contains(got, "no pg_hba.conf entry") {
		t.Errorf("a host that is not an app host logged in to the database: %s", got)
	}
	rprobe := `IFS= read -r pw; REDISCLI_AUTH=$pw timeout 10 redis-cli --no-auth-warning -h ` + db1 + ` --user notes ping 2>&1; echo "exit=$?"`
	if got, _ := cl.TrySSHInput("web2", rprobe, rpass+"\n"); !strings.Contains(got, "PONG") {
		t.Errorf("web2 (an app host) cannot reach Redis on db1: %s", got)
	}
	if got, _ := cl.TrySSH("lb1", "timeout 10 redis-cli -h "+db1+" get visits 2>&1"); !strings.Contains(got, "NOAUTH") {
		t.Errorf("Redis answers a client with no user and password: %s", got)
	}
	if got, _ := cl.TrySSH("db1", "ss -Hltn '( sport = :5432 or sport = :6379 )' | awk '{print $4}' | sort | tr '\\n' ' '"); strings.Contains(got, "0.0.0.0") || strings.Contains(got, "*:") || !strings.Contains(got, db1+":5432") || !strings.Contains(got, db1+":6379") {
		t.Errorf("db1 listens on %s: want 127.0.0.1 and %s only", got, db1)
	}

	// A second app on the same hosts, a Flask counter of visits in Redis
	// (REDIS_URL), shares db1's PostgreSQL and Redis with a role and a
	// Redis user of its own; its count survives a redeploy.
	cdir := gitProject(t, "counter")
	cc := stack.Default("counter", "flask")
	cc.App.WSGI = "counter:create_app()"
	cc.App.Health = "/"
	cc.App.Port = c.App.Port + 100
	cc.Proxy.ServerNames = []string{"counter.test"}
	cc.Proxy.Static = nil
	cc.Deploy.Hosts = []string{"web1", "web2"}
	cc.Services.Postgres = stack.Service{Enabled: true, Host: "db1"}
	cc.Services.Redis = stack.Service{Enabled: true, Host: "db1"}
	if err := cc.Save(filepath.Join(cdir, stack.FileName)); err != nil {
		t.Fatal(err)
	}
	if cc, err = stack.Load(filepath.Join(cdir, stack.FileName)); err != nil {
		t.Fatal(err)
	}
	git(t, cdir, "add", "-A")
	git(t, cdir, "commit", "-q", "-m", "stack.toml")
	co := hostOpts(cc, hs[:2], nil)
	co.ServiceHosts = o.ServiceHosts
	all.WriteString(deployOK(t, co))
	visit := func(method, addr string) map[string]any {
		t.Helper()
		var v map[string]any
		if body := vhostRequest(t, method, addr, "counter.test", "/visit"+map[string]string{"GET": "s"}[method], nil); json.Unmarshal(body, &v) != nil {
			t.Fatalf("counter: not JSON: %.300s", body)
		}
		return v
	}
	visit("POST", web1)
	visit("POST", web2)
	if v := visit("POST", web1); v["visits"] != float64(3) {
		t.Errorf("counter: visits = %v, want 3 (one Redis for both hosts)", v)
	}
	src := filepath.Join(cdir, "counter", "__init__.py")
	code, _ := os.ReadFile(src)
	os.WriteFile(src, bytes.Replace(code, []byte(`VERSION = "v1"`), []byte(`VERSION = "v2"`), 1), 0o644)
	git(t, cdir, "commit", "-q", "-am", "v2")
	all.WriteString(deployOK(t, co))
	if v := visit("GET", web2); v["visits"] != float64(3) || v["version"] != "v2" {
		t.Errorf("counter after a redeploy: %v, want 3 visits from v2", v)
	}
	cpass := strings.TrimSpace(cl.SSH(t, "db1", "cat /etc/stackctl/counter/postgres.password"))
	crpass := strings.TrimSpace(cl.SSH(t, "db1", "cat /etc/stackctl/counter/redis.password"))
	if cpass == pass || crpass == rpass || len(cpass) < 24 || len(crpass) < 24 {
		t.Fatalf("the second app shares the first one's passwords, or has weak ones")
	}
	// Each app's role reaches its own database only.
	other := `IFS= read -r pw; PGPASSWORD=$pw PGCONNECT_TIMEOUT=5 psql -h ` + db1 + ` -U counter -d notes -tAc 'select 1' 2>&1; echo "exit=$?"`
	if got, _ := cl.TrySSHInput("web2", other, cpass+"\n"); strings.Contains(got, "exit=0") {
		t.Errorf("counter's role logged in to notes' database: %s", got)
	}
	if got, _ := cl.TrySSHInput("web2", strings.Replace(other, "-d notes", "-d counter", 1), cpass+"\n"); !strings.Contains(got, "exit=0") {
		t.Errorf("counter's role cannot reach its database: %s", got)
	}
	// The notes app still reaches its services after the second app's
	// deploy changed db1's Redis users.
	if v := notesRequest(t, "GET", web1, "/visits", nil)["visits"]; v != float64(4) {
		t.Errorf("notes' visits after the counter's deploys = %v, want 4", v)
	}

	// The passwords: in root-only files, nowhere else.
	for _, p := range []string{pass, rpass, cpass, crpass} {
		if strings.Contains(all.String(), p) {
			t.Errorf("a password reached stackctl's output")
		}
		for _, h := range []string{"web1", "web2", "lb1", "db1"} {
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
