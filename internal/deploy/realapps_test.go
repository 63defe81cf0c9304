package deploy

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/detect"
	"github.com/stackctl/stackctl/internal/flasktest"
	"github.com/stackctl/stackctl/internal/hosttest"
	"github.com/stackctl/stackctl/internal/nginxtest"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/testutil"
)

// gitProject copies testdata/<name> into a new git repository with one
// commit, as a user's clone looks, and returns the project's folder.
func gitProject(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(nginxtest.TempDir(t), name)
	src := filepath.Join("testdata", name)
	testutil.CopyTree(t, src, dir)
	git(t, dir, "init", "-q")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "initial")
	return dir
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=Test", "-c", "user.email=test@example.org", "-c", "init.defaultBranch=main"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// adopt runs init's detection on dir for domain, writes stack.toml and
// loads it back, as `stackctl init --yes --domain DOMAIN` does.
func adopt(t *testing.T, dir, domain string) *stack.Config {
	t.Helper()
	p, err := detect.Detect(dir, detect.Options{Domain: domain})
	if err != nil {
		t.Fatal(err)
	}
	c := p.Config()
	c.Proxy.ServerNames = []string{domain} // init --domain
	path := filepath.Join(dir, stack.FileName)
	if err := detect.WriteNew(path, c); err != nil {
		t.Fatal(err)
	}
	c, err = stack.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// putConsoleWheel makes a wheel of a package "marker" with a console
// script `marker`, which appends its arguments and the release to
// $STATE_DIRECTORY/marks, the host's only package index (as putWheel).
func putConsoleWheel(t *testing.T, cl *hosttest.Cluster, name string) {
	t.Helper()
	cl.SSH(t, name, `set -e
mkdir -p /tmp/m/marker /tmp/m/marker-1.0.dist-info /opt/wheels
cd /tmp/m
cat >marker/__init__.py <<'EOF'
import os, sys

def main():
    with open(os.path.join(os.environ["STATE_DIRECTORY"], "marks"), "a") as f:
        f.write(os.environ.get("STACKCTL_RELEASE", "?") + " " + " ".join(sys.argv[1:]) + "\n")
    print("marked", os.environ.get("STACKCTL_RELEASE"))
EOF
printf 'Metadata-Version: 2.1\nName: marker\nVersion: 1.0\n' >marker-1.0.dist-info/METADATA
printf 'Wheel-Version: 1.0\nGenerator: stackctl-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n' >marker-1.0.dist-info/WHEEL
printf '[console_scripts]\nmarker = marker:main\n' >marker-1.0.dist-info/entry_points.txt
printf 'marker/__init__.py,,\nmarker-1.0.dist-info/METADATA,,\nmarker-1.0.dist-info/WHEEL,,\nmarker-1.0.dist-info/entry_points.txt,,\nmarker-1.0.dist-info/RECORD,,\n' >marker-1.0.dist-info/RECORD
python3 -c 'import zipfile,sys; z=zipfile.ZipFile("/opt/wheels/marker-1.0-py3-none-any.whl","w"); [z.write(f) for f in sys.argv[1:]]; z.close()' marker/__init__.py marker-1.0.dist-info/*
printf '[global]\nno-index = true\nfind-links = /opt/wheels\n' >/etc/pip.conf`)
}

// The Flask tutorial's app (flaskr) as its users have it: an app factory,
// its SQLite database in the git-ignored instance folder, `flask init-db`.
// init proposes the instance folder as app data; deploy never ships the
// laptop's database; `exec` creates the database in the data folder; a
// post written through nginx survives a redeploy and a rollback; and
// release_command runs a console script pip installed into the release's
// virtualenv, built under a temporary name and then reused by hard links.
func TestHostDeployFlaskTutorialApp(t *testing.T) {
	t.Parallel()
	flasktest.RequirePython(t)
	dir := gitProject(t, "flaskr")
	// The laptop's own database and settings, ignored by git.
	os.MkdirAll(filepath.Join(dir, "instance"), 0o755)
	os.WriteFile(filepath.Join(dir, "instance", "flaskr.sqlite"), []byte("the laptop's database"), 0o644)
	os.WriteFile(filepath.Join(dir, ".flaskenv"), []byte("FLASK_DEBUG=1\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "requirements.txt"), []byte("flask\nmarker==1.0\n"), 0o644)
	git(t, dir, "commit", "-q", "-am", "marker")

	c := adopt(t, dir, "app.test")
	if strings.Join(c.App.Data, ",") != "instance" {
		t.Fatalf("init proposes app.data %q, want [instance]", c.App.Data)
	}
	// The home page needs the database, which init-db makes after the
	// first deploy: the health check asks the tutorial's /hello page.
	c.App.Health = "/hello"
	c.Deploy.ReleaseCommand = "marker release"
	cl := hosttest.Start(t, "web1")
	web1 := cl.Host("web1")
	putConsoleWheel(t, cl, "web1")
	o := hostOpts(c, dial(t, cl, "deploy", "web1"), nil)
	out := deployOK(t, o)
	if !strings.Contains(out, "release_command") {
		t.Fatalf("release_command did not run:\n%s", out)
	}
	if got := cl.SSH(t, "web1", "find /srv/flaskr -name '*.sqlite' -o -name .flaskenv; ls -A /var/lib/flaskr/instance"); strings.TrimSpace(got) != "" {
		t.Errorf("the laptop's git-ignored files reached the host, or the data folder is not empty:\n%s", got)
	}
	link := cl.SSH(t, "web1", "readlink /srv/flaskr/current/instance; stat -c '%U %a' /var/lib/flaskr/instance")
	if want := "/var/lib/flaskr/instance\nflaskr 750\n"; link != want {
		t.Errorf("instance in the release: %q, want a link to the data folder owned by the app:\n%s", link, want)
	}

	var execOut bytes.Buffer
	eo := ExecOptions{HostsOptions: o, Argv: []string{"flask", "--app", "flaskr", "init-db"}, Stdout: &execOut, Stderr: &execOut}
	if err := Exec(context.Background(), eo); err != nil || !strings.Contains(execOut.String(), "Initialized the database.") {
		t.Fatalf("exec flask init-db: %v\n%s", err, execOut.String())
	}
	postTitle(t, web1.Addr, "first post")
	if _, body := getSite(t, web1.Addr, "/"); !strings.Contains(body, "first post") {
		t.Fatalf("GET / after the post: %q", body)
	}

	// A redeploy with a change: the virtualenv is reused and the console
	// script still runs; the post is still there.
	tmpl := filepath.Join(dir, "flaskr", "templates", "index.html")
	data, _ := os.ReadFile(tmpl)
	os.WriteFile(tmpl, bytes.Replace(data, []byte("<h1>Posts</h1>"), []byte("<h1>All posts</h1>"), 1), 0o644)
	git(t, dir, "commit", "-q", "-am", "title")
	out = deployOK(t, o)
	if !strings.Contains(out, "virtualenv reused") {
		t.Errorf("an unchanged requirements.txt should reuse the virtualenv:\n%s", out)
	}
	if _, body := getSite(t, web1.Addr, "/"); !strings.Contains(body, "All posts") || !strings.Contains(body, "first post") {
		t.Errorf("after the redeploy GET / = %q, want the new page with the old post", body)
	}
	shebangs := cl.SSH(t, "web1", `cd /srv/flaskr/releases && for r in *; do printf '%s %s\n' "$r" "$(head -n 1 "$r/.venv/bin/marker")"; done`)
	for _, line := range strings.Split(strings.TrimSpace(shebangs), "\n") {
		id, shebang, _ := strings.Cut(line, " ")
		if shebang != "#!/srv/flaskr/releases/"+id+"/.venv/bin/python3" && shebang != "#!/srv/flaskr/releases/"+id+"/.venv/bin/python" {
			t.Errorf("release %s: the console script starts %q, want its own virtualenv's python", id, shebang)
		}
	}

	if err := RollbackHosts(context.Background(), o, ""); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if _, body := getSite(t, web1.Addr, "/"); strings.Contains(body, "All posts") || !strings.Contains(body, "first post") {
		t.Errorf("after the rollback GET / = %q, want the old page with the post", body)
	}
	if marks := cl.SSH(t, "web1", "cat /var/lib/flaskr/marks"); strings.Count(marks, " release\n") != 2 {
		t.Errorf("the console script should have run once per deploy, as the app's user with its data folder:\n%s", marks)
	}
}

// postTitle writes a post through the host's nginx.
func postTitle(t *testing.T, addr, title string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+addr+"/create", strings.NewReader(url.Values{"title": {title}}.Encode()))
	req.Host = "app.test"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("POST /create: %s, want 302", resp.Status)
	}
}

// A Django project with production settings: the secret key from the
// environment (stackctl env), DEBUG off, ALLOWED_HOSTS only its domain and
// a "/" that redirects. The health check asks as the site does, so it
// deploys unchanged; `manage.py migrate` as release_command writes the
// SQLite database through its link into the data folder; media written by
// the app survives a redeploy; static files come from collectstatic.
func TestHostDeployDjangoProduction(t *testing.T) {
	t.Parallel()
	flasktest.DjangoProject(t) // skips without Django
	dir := gitProject(t, "djangoprod")
	venv := exec.Command(flasktest.DebianPython, "-m", "venv", "--system-site-packages", "--without-pip", filepath.Join(dir, ".venv"))
	if out, err := venv.CombinedOutput(); err != nil {
		t.Fatalf("venv: %v\n%s", err, out)
	}
	c := adopt(t, dir, "mysite.test")
	if got := strings.Join(c.App.Data, ","); got != "db.sqlite3,media" && got != "media,db.sqlite3" {
		t.Fatalf("init proposes app.data %q, want db.sqlite3 and media", c.App.Data)
	}
	c.Deploy.ReleaseCommand = "python manage.py migrate --noinput"
	cl := hosttest.Start(t, "web1")
	addr := cl.Host("web1").Addr
	o := hostOpts(c, dial(t, cl, "", "web1"), nil)
	if err := ChangeSecrets(context.Background(), o, SecretsChange{Set: map[string]string{"DJANGO_SECRET_KEY": "a-production-secret-0123456789"}}); err != nil {
		t.Fatal(err)
	}
	deployOK(t, o)
	if status, body := getHost(t, addr, "/hello/", "mysite.test"); status != 200 || !strings.Contains(body, "0 users, note none") {
		t.Fatalf("GET /hello/: %d %q", status, body)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Host = "mysite.test"
	noFollow := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := noFollow.Do(req); err != nil || resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/hello/" {
		t.Errorf("GET / = %v %v, want Django's redirect to /hello/", resp, err)
	} else {
		resp.Body.Close()
	}
	if status, body := getHost(t, addr, "/static/site.css", "mysite.test"); status != 200 || !strings.Contains(body, "color") {
		t.Errorf("GET /static/site.css: %d %q", status, body)
	}
	req, _ = http.NewRequest("POST", "http://"+addr+"/note/", strings.NewReader("text=kept"))
	req.Host = "mysite.test"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /note/: %v %v", resp, err)
	}
	svc := c.Deploy.Service
	if owner := cl.SSH(t, "web1", "stat -c '%U' /var/lib/"+svc+"/db.sqlite3 /var/lib/"+svc+"/media/note.txt"); owner != c.Deploy.User+"\n"+c.Deploy.User+"\n" {
		t.Errorf("the database and the media file belong to %q, want the app's user", owner)
	}
	views := filepath.Join(dir, "mysite", "views.py")
	data, _ := os.ReadFile(views)
	os.WriteFile(views, bytes.Replace(data, []byte("Hello from Django"), []byte("Hello again from Django"), 1), 0o644)
	out := deployOK(t, o)
	if !strings.Contains(out, "uncommitted") {
		t.Errorf("deploy should say that uncommitted changes ship:\n%s", out)
	}
	if status, body := getHost(t, addr, "/hello/", "mysite.test"); status != 200 || !strings.Contains(body, "Hello again from Django: 0 users, note kept") {
		t.Errorf("after the redeploy GET /hello/: %d %q", status, body)
	}
}
